"""The commands the README and the `make run` banner tell a new user to type
work as printed (with this test server's ports and state directory): sipsak
shows the 200 OK, and openssl verifies the certificate and its name."""
import os
import re
import shlex
import subprocess

import pytest

from conftest import ROOT


def readme_commands():
    text = open(os.path.join(ROOT, "README.md")).read()
    block = re.search(r"ask it from another terminal:\n\n```sh\n(.*?)```", text, re.S).group(1)
    return [line.split("#")[0].strip() for line in block.splitlines()
            if line.strip().startswith(("sipsak", "openssl"))]


def banner_commands():
    text = open(os.path.join(ROOT, "Makefile")).read()
    run = text[text.index("\nrun:"):text.index("@exec build/bastion")]
    cmds = []
    for m in re.finditer(r'@echo "([^"]*)"', run):
        c = re.search(r"\b((?:sipsak|openssl) .*?)\s+\((?:UDP|TCP|TLS)\)\s*$", m.group(1))
        if c:
            cmds.append(c.group(1).replace("$(STATE)", "var"))
    return cmds


def localize(cmd, s):
    cmd = cmd.replace("var/ca.crt", os.path.join(s.state, "ca.crt"))
    cmd = cmd.replace("127.0.0.1:5061", f"127.0.0.1:{s.tls_port}")
    return cmd.replace("sip:ping@127.0.0.1", f"sip:ping@127.0.0.1:{s.port}")


@pytest.mark.parametrize("where", ["README.md", "make run banner"])
def test_commands_as_printed(make_server, where):
    s = make_server(domain="localhost", tls=True)
    cmds = readme_commands() if where == "README.md" else banner_commands()
    assert len(cmds) == 3, cmds
    for cmd in cmds:
        args = shlex.split(localize(cmd, s))
        r = subprocess.run(args, capture_output=True, text=True, timeout=30,
                           stdin=subprocess.DEVNULL)
        if args[0] == "sipsak":
            assert "SIP/2.0 200 OK" in r.stdout, (cmd, r.stdout, r.stderr)
        else:
            assert "-verify_hostname localhost" in cmd
            assert "Verification: OK" in r.stdout + r.stderr, (cmd, r.stdout[-800:])
            assert "Verified peername: localhost" in r.stdout + r.stderr
