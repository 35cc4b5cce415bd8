"""Crash-safe files: every file Bastion writes outside SQLite (the nonce
key, the configuration `bastion init` writes, the CA's and the server's
keys and certificates, the demo credentials, the keys and certificates of
`bastion tls issue`) is created whole or not at all.

Each writer is interrupted for real: strace runs the command and kills it
with SIGKILL at one system call of the file writing (the temporary file's
fchmod, write, fsync, its link into place, its unlink, the directory's
fsync), one run per call, found by a first traced run. After every kill,
each file the command makes is either absent or complete (the key is 32
bytes, a PEM file is whole, the configuration is the full text, the
credentials have both users), and the command's output never names a
half-made file as done.
"""
import base64
import os
import re
import shutil
import subprocess

import pytest

from conftest import BIN

STRACE = shutil.which("strace")
CALLS = ("fchmod", "write", "fsync", "link", "unlink")
ENV = dict(os.environ, ASAN_OPTIONS="detect_leaks=0:abort_on_error=1")  # LSan cannot run under ptrace
ENV.pop("BASTION_STATE", None)

pytestmark = pytest.mark.skipif(STRACE is None, reason="strace missing: run scripts/deps.sh")


def traced(args, out, inject=None, timeout=120):
    cmd = [STRACE, "-f", "-y", "-qq", "-o", out, "-e", "trace=" + ",".join(CALLS)]
    if inject:
        call, n = inject
        cmd += ["-e", f"inject={call}:signal=KILL:when={n}"]
    return subprocess.run(cmd + [BIN, *args], capture_output=True, text=True, env=ENV,
                          timeout=timeout)


def interrupt_points(trace_path, names):
    """(call, n): the n-th invocation of call touches one of our files (a
    temporary file, the file itself, its link into place, or the state
    directory's fsync)."""
    counts, points = {}, []
    with open(trace_path) as f:
        for line in f:
            m = re.match(r"\d+\s+(\w+)\((.*)", line)
            if not m or m.group(1) not in CALLS:
                continue
            call, rest = m.groups()
            counts[call] = counts.get(call, 0) + 1
            ours = ".tmp-" in rest or any(f"/{n}>" in rest for n in names) or (call == "fsync" and re.match(r"\d+<[^>]*>\)", rest)
                                       and "bastion.db" not in rest
                                       and os.path.isdir(re.match(r"\d+<([^>]*)>", rest).group(1)))
            if ours:
                points.append((call, counts[call]))
    return points


def pem_whole(data, kinds):
    m = re.fullmatch(rb"-----BEGIN ([A-Z ]+)-----\n([A-Za-z0-9+/=\n]+)-----END \1-----\n", data)
    if not m or m.group(1).decode() not in kinds:
        return False
    base64.b64decode(m.group(2).replace(b"\n", b""), validate=True)
    return True


def check_files(files, reference):
    """Each file absent or complete; returns the names present."""
    present = []
    for path, kind in files.items():
        if not os.path.lexists(path):
            continue
        with open(path, "rb") as f:
            data = f.read()
        name = os.path.basename(path)
        if kind == "key32":
            assert len(data) == 32, f"{name}: {len(data)} bytes"
        elif kind == "key":
            assert pem_whole(data, ("PRIVATE KEY", "ENCRYPTED PRIVATE KEY")), f"{name}: {data!r}"
        elif kind == "crt":
            assert pem_whole(data, ("CERTIFICATE",)), f"{name}: {data!r}"
        elif kind == "same":
            assert data == reference[name], f"{name} differs from a complete one"
        elif kind == "demo":
            assert re.fullmatch(rb"# Demo users[^\n]*\n(\S+@\S+ password=\S+\n){2}", data), data
        present.append(name)
    return present


def run_interrupted(tmp_path, make_state, args_of, files_of, reference_names):
    """Dry run, then one killed run per interrupt point."""
    dry = make_state(tmp_path / "dry")
    r = traced(args_of(dry), str(tmp_path / "dry.trace"))
    assert r.returncode == 0, r.stderr
    reference = {}
    for path in files_of(dry):
        name = os.path.basename(path)
        if name in reference_names:
            with open(path, "rb") as f:
                reference[name] = f.read()
    points = interrupt_points(str(tmp_path / "dry.trace"),
                              {os.path.basename(p) for p in files_of(dry)})
    # every file is made by fchmod, write, fsync, link, unlink, and a directory fsync
    assert len(points) >= 6 * len(files_of(dry)), points
    seen = set()
    for i, point in enumerate(points):
        st = make_state(tmp_path / f"run{i}")
        r = traced(args_of(st), str(tmp_path / f"run{i}.trace"), inject=point)
        assert r.returncode in (-9, 137), (point, r.returncode, r.stderr[-2000:])
        present = check_files(files_of(st), reference)
        seen.add(len(present))
        shutil.rmtree(st, ignore_errors=True)
    # the kills landed before, between and after the files
    assert len(seen) > 2, seen


def test_init_interrupted_at_every_file_write(tmp_path):
    def make_state(p):
        return str(p)

    def args_of(st):
        return ["init", "--state", st, "--domain", "example.test",
                "--listen", "udp:127.0.0.1:5060", "--demo"]

    def files_of(st):
        return {os.path.join(st, "bastion.conf"): "same",
                os.path.join(st, "nonce.key"): "key32",
                os.path.join(st, "ca.key"): "key", os.path.join(st, "ca.crt"): "crt",
                os.path.join(st, "server.key"): "key", os.path.join(st, "server.crt"): "crt",
                os.path.join(st, "demo-credentials"): "demo"}

    run_interrupted(tmp_path, make_state, args_of, files_of, {"bastion.conf"})


def test_tls_issue_interrupted_at_every_file_write(tmp_path):
    base = str(tmp_path / "base")
    r = subprocess.run([BIN, "init", "--state", base, "--domain", "example.test",
                        "--listen", "udp:127.0.0.1:5060"], capture_output=True, text=True,
                       env=ENV, timeout=60)
    assert r.returncode == 0, r.stderr

    def make_state(p):
        shutil.copytree(base, str(p))
        return str(p)

    def args_of(st):
        return ["--state", st, "tls", "issue", "phone1", "--out", os.path.join(st, "issued")]

    def files_of(st):
        d = os.path.join(st, "issued")
        return {os.path.join(d, "phone1.key"): "key", os.path.join(d, "phone1.crt"): "crt"}

    run_interrupted(tmp_path, make_state, args_of, files_of, set())
