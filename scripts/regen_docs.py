#!/usr/bin/env python3
"""Regenerate the generated parts of docs/ from the binary's own tables:
docs/configuration.md (bastion config reference) and docs/mitigations.md
(bastion audit --reference). Usage: scripts/regen_docs.py [BASTION_BIN]."""
import subprocess
import sys

BIN = sys.argv[1] if len(sys.argv) > 1 else "build/bastion"


def splice(path, begin, end, text):
    doc = open(path).read()
    a = doc.index(begin) + len(begin)
    b = doc.index(end)
    doc = doc[:a] + "\n" + text.strip() + "\n" + doc[b:]
    open(path, "w").write(doc)


ref = subprocess.run([BIN, "config", "reference"], check=True, capture_output=True, text=True)
splice("docs/configuration.md", "<!-- BEGIN GENERATED REFERENCE -->",
       "<!-- END GENERATED REFERENCE -->", ref.stdout)
aud = subprocess.run([BIN, "audit", "--reference"], capture_output=True, text=True)
if aud.returncode == 0:
    splice("docs/mitigations.md", "<!-- BEGIN GENERATED AUDIT -->",
           "<!-- END GENERATED AUDIT -->", aud.stdout)
