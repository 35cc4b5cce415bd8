"""Tamper-evident logs and `bastion events`, with the real server.

Events come from real REGISTERs (a wrong password, a good one) and a real call
(its CDR). After the server stops, `bastion log verify` finds security.log and
cdr.log intact, with checkpoints that match the key; then the files are
edited as an intruder would (a line altered, removed, inserted; every hash
recomputed after an edit) and verify names the first bad line. A rotation
(the file moved, SIGHUP) continues the chain in the new file. `bastion events`
filters by kind, user, source and time, prints JSON lines as written, and
flags a broken chain while it reads."""
import hashlib
import json
import os
import re
import signal
import time

import pytest

from conftest import DOMAIN, Phone, Registrar, cdrs, import_users, run_cli, status_of

USERS = {"alice": "correct horse battery", "1001": "correct-horse-1001",
         "1002": "battery-staple-1002"}


@pytest.fixture
def logged(make_server, tmp_path):
    """A server that saw a failure, a registration and a call, then stopped."""
    s = make_server()
    import_users(s, USERS, tmp_path)
    s.wait_log("users reloaded", timeout=30)
    reg = Registrar(s, "alice", "not the password")
    try:
        assert status_of(reg.register())[0] == 403
    finally:
        reg.close()
    reg = Registrar(s, "alice", USERS["alice"])
    try:
        assert status_of(reg.register())[0] == 200
    finally:
        reg.close()
    a = Phone(s, "1001", USERS["1001"])
    b = Phone(s, "1002", USERS["1002"])
    a.register()
    b.register()
    call_id, _, cseq = a.invite("1002")
    inv, totag = b.answer()
    _, ok, _ = a.expect_status(200, "INVITE")
    a.in_dialog("ACK", ok, call_id, cseq, totag, a.tag)
    b.expect_request("ACK")
    a.in_dialog("BYE", ok, call_id, cseq + 1, totag, a.tag)
    _, bye, _ = b.expect_request("BYE")
    b.respond(bye, 200, "OK", totag)
    a.expect_status(200, "BYE")
    assert [r for r in cdrs(s) if r["call_id"] == call_id]
    a.close()
    b.close()
    assert s.stop() == 0
    return s


def path(s, name):
    return os.path.join(s.state, name)


def verify(s, *files, key=True):
    args = ["--state", s.state, "log", "verify", *[path(s, f) for f in files]]
    if not key:
        args.append("--no-key")
    return run_cli(*args)


def lines(s, name):
    with open(path(s, name)) as f:
        return f.read().splitlines()


def write(s, name, ls):
    with open(path(s, name), "w") as f:
        f.write("".join(x + "\n" for x in ls))


def test_intact_logs_verify(logged):
    for name in ("security.log", "cdr.log"):
        ls = lines(logged, name)
        objs = [json.loads(x) for x in ls]
        assert [o["seq"] for o in objs] == list(range(1, len(objs) + 1))
        assert objs[0]["prev"] == "0" * 64
        for before, o in zip(ls, objs[1:]):
            assert o["prev"] == hashlib.sha256(before.encode()).hexdigest()
        assert objs[-1]["kind"] == "log.checkpoint"  # written at stop
        r = verify(logged, name)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "intact:" in r.stdout and "all match the key" in r.stdout
    assert oct(os.stat(path(logged, "log.key")).st_mode & 0o777) == "0o600"


def test_altered_line_named(logged):
    ls = lines(logged, "security.log")
    i = next(k for k, x in enumerate(ls) if '"auth.failure"' in x)
    ls[i] = ls[i].replace('"auth.failure"', '"auth.fumble"')
    write(logged, "security.log", ls)
    r = verify(logged, "security.log")
    assert r.returncode == 1
    assert f"line {i + 1}: altered" in r.stdout, r.stdout
    # events shows the events but flags the chain
    e = run_cli("--state", logged.state, "events")
    assert e.returncode == 1
    assert f"line {i + 1}: altered" in e.stderr and "NOT intact" in e.stderr


def test_removed_and_inserted_lines_named(logged):
    orig = lines(logged, "security.log")
    assert len(orig) >= 4
    write(logged, "security.log", orig[:1] + orig[2:])
    r = verify(logged, "security.log")
    assert r.returncode == 1 and "line 2: removed: 1 line(s)" in r.stdout, r.stdout
    forged = json.dumps({"time": "2026-01-01T00:00:00.000Z", "kind": "register.ok",
                         "user": "mallory", "seq": 2,
                         "prev": hashlib.sha256(orig[0].encode()).hexdigest()},
                        separators=(",", ":"))
    write(logged, "security.log", orig[:1] + [forged] + orig[1:])
    r = verify(logged, "security.log")
    assert r.returncode == 1 and "line 2: inserted" in r.stdout, r.stdout


def test_rehashed_chain_caught_by_the_key(logged):
    ls = lines(logged, "cdr.log")
    objs = [json.loads(x) for x in ls]
    objs[0]["status"] = 486  # the call "was never answered"
    out = []
    for o in objs:
        if out:
            o["prev"] = hashlib.sha256(out[-1].encode()).hexdigest()
        out.append(json.dumps(o, separators=(",", ":")))
    write(logged, "cdr.log", out)
    r = verify(logged, "cdr.log", key=False)
    assert r.returncode == 0 and "NOT checked" in r.stdout
    r = verify(logged, "cdr.log")
    assert r.returncode == 1 and "checkpoint fails the key" in r.stdout, r.stdout


def test_events_filters(logged):
    r = run_cli("--state", logged.state, "events")
    assert r.returncode == 0, r.stderr
    assert "auth.failure" in r.stdout and "register.ok" in r.stdout
    assert "log.checkpoint" not in r.stdout
    r = run_cli("--state", logged.state, "events", "--type", "auth.*")
    kinds = {line.split()[1] for line in r.stdout.splitlines()}
    assert kinds == {"auth.failure"}, r.stdout
    r = run_cli("--state", logged.state, "events", "--user", "alice", "--json")
    objs = [json.loads(x) for x in r.stdout.splitlines()]
    assert objs and all(o["user"] == "alice" for o in objs)
    assert {o["kind"] for o in objs} == {"auth.failure", "register.ok"}
    assert all("seq" in o and "prev" in o for o in objs)
    r = run_cli("--state", logged.state, "events", "--source", "127.0.0.1")
    assert "src 127.0.0.1:" in r.stdout
    r = run_cli("--state", logged.state, "events", "--source", "192.0.2.1")
    assert r.stdout.strip() == "No events."
    r = run_cli("--state", logged.state, "events", "--since", "-1h", "--type", "register.*")
    assert "register.ok" in r.stdout
    future = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 86400))
    r = run_cli("--state", logged.state, "events", "--since", future)
    assert r.stdout.strip() == "No events."


def test_events_bad_arguments(logged):
    r = run_cli("--state", logged.state, "events", "--since", "yesterday")
    assert r.returncode == 2 and "bad --since" in r.stderr
    r = run_cli("--state", logged.state, "events", "--bogus")
    assert r.returncode == 2
    r = run_cli("--state", logged.state, "events", "--user", "a\x01b")
    assert r.returncode == 2 and "control characters" in r.stderr
    r = run_cli("--state", logged.state, "log", "verify")
    assert r.returncode == 2
    r = run_cli("--state", logged.state, "log", "verify", "/nonexistent/file")
    assert r.returncode == 1 and "No such file" in r.stderr


def test_rotation_continues_the_chain(make_server, tmp_path):
    s = make_server()
    import_users(s, {"alice": USERS["alice"]}, tmp_path)
    s.wait_log("users reloaded", timeout=30)

    def fail_once():
        reg = Registrar(s, "alice", "not the password")
        try:
            assert status_of(reg.register())[0] == 403
        finally:
            reg.close()

    fail_once()
    os.rename(path(s, "security.log"), path(s, "security.log.1"))
    s.signal(signal.SIGHUP)
    s.wait_log("configuration reloaded", timeout=30)
    fail_once()
    assert s.stop() == 0
    r = verify(s, "security.log.1", "security.log")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "from the start of the chain" in r.stdout
    first_new = json.loads(lines(s, "security.log")[0])
    last_old = lines(s, "security.log.1")[-1]
    assert json.loads(last_old)["kind"] == "log.checkpoint"
    assert first_new["prev"] == hashlib.sha256(last_old.encode()).hexdigest()
    # the wrong order is refused
    r = verify(s, "security.log", "security.log.1")
    assert r.returncode == 1 and "chain broken" in r.stdout


def test_key_readable_by_others_refused(make_server):
    s = make_server(start=False)
    with open(path(s, "log.key"), "wb") as f:
        f.write(os.urandom(32))
    os.chmod(path(s, "log.key"), 0o644)
    r = run_cli("--state", s.state, "serve", timeout=30)
    assert r.returncode == 1 and "log key" in r.stderr and "0600" in r.stderr
