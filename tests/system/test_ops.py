"""Operations against the real binary (docs/operations.md): robustness profiles
and `config show`; `bastion audit` against the guide's levels; encrypted
backups taken from a running server, verified, refused when wrong, and
restored into a state that serves the old phones again; `bastion rotate`
against a live server (new server key without dropping a TLS connection, new
nonce key, new passwords, revoked client certificates); admin.* events.
The password-deadline tests run on both backends: SQLite and a real
PostgreSQL (tests/tools/pgtmp.py), so the two are proven equal."""
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
import uuid

import pytest

from conftest import (DOMAIN, BIN, Phone, Server, cdrs, events, free_port, header,
                      import_users, run_cli, status_of, tls_context)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tools"))
import pgtmp  # noqa: E402

USERS = {"1001": "correct-horse-1001", "1002": "battery-staple-1002"}
PASSPHRASE = "a long backup passphrase, kept apart"


def cli(state, *args, **kw):
    return run_cli("--state", str(state), *args, **kw)


def scli(server, *args, **kw):
    """The CLI on server's state, with its environment (PGPASSFILE)."""
    return run_cli("--state", server.state, *args, env=server.env, **kw)


@pytest.fixture(scope="module")
def pg_server():
    if not pgtmp.available():
        pytest.skip("PostgreSQL not installed (scripts/deps.sh)")
    with pgtmp.PgTmp() as p:
        yield p


@pytest.fixture(params=["sqlite", "postgresql"])
def store_server(request, make_server):
    """make_server on either backend: SQLite, or a fresh database on the
    module's PostgreSQL server."""
    if request.param == "sqlite":
        return make_server
    pg = request.getfixturevalue("pg_server")
    name = "o" + uuid.uuid4().hex[:12]
    pg.createdb(name)
    return lambda **kw: make_server(database=pg.url(name), env={"PGPASSFILE": pg.pgpass}, **kw)


def passfile(tmp_path, text=PASSPHRASE, name="pass"):
    p = tmp_path / name
    p.write_text(text + "\n")
    os.chmod(p, 0o600)
    return str(p)


def wait_until(pred, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"{what} not met within {timeout}s")


def audit(state, *args):
    r = cli(state, "audit", "--json", *args)
    data = json.loads(r.stdout)
    return r.returncode, data, {c["id"]: c for c in data["checks"]}


# ---- profiles -----------------------------------------------------------------------

def test_init_profile_highest_and_config_show(tmp_path):
    st = tmp_path / "s"
    r = run_cli("init", "--state", str(st), "--profile", "highest")
    assert r.returncode == 0, r.stderr
    assert "profile highest" in r.stdout and "audit --level highest" in r.stdout
    show = cli(st, "config", "show").stdout
    assert "profile = highest    ; file" in show
    assert "signaling = tls-required    ; profile highest" in show
    assert "media = srtp-required    ; profile highest" in show
    assert "verify_client = require    ; profile highest" in show
    assert "algorithms = SHA-256    ; profile highest" in show
    assert "max_contacts = 10    ; default" in show
    # an explicit setting in the file wins over the profile
    with open(st / "bastion.conf", "a") as f:
        f.write("\n[policy]\nmedia = any\n")
    show = cli(st, "config", "show").stdout
    assert "media = any    ; file" in show
    assert "signaling = tls-required    ; profile highest" in show


def test_init_profile_refuses_unknown_level(tmp_path):
    r = run_cli("init", "--state", str(tmp_path / "s"), "--profile", "maximum")
    assert r.returncode == 2
    assert "minimum, medium or highest" in r.stderr and "maximum" in r.stderr
    assert not os.path.exists(tmp_path / "s" / "bastion.conf")


def test_profile_medium_enforced_by_the_server(make_server, tmp_path):
    """[server] profile = medium makes a plain REGISTER get 403 TLS Required."""
    s = make_server("[server]\nprofile = medium")
    import_users(s, USERS, tmp_path)
    from conftest import Registrar
    reg = Registrar(s, "1001", USERS["1001"])
    reply = reg.register()
    assert status_of(reply)[0] == 403 and b"TLS Required" in reply.split(b"\r\n")[0]
    reg.close()


# ---- audit ----------------------------------------------------------------------------

def test_audit_minimum_passes_on_fresh_init(tmp_path):
    st = tmp_path / "s"
    assert run_cli("init", "--state", str(st)).returncode == 0
    r = cli(st, "audit", "--level", "minimum")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PASSED" in r.stdout
    rc, data, checks = audit(st, "--level", "minimum")
    assert rc == 0 and data["ok"] is True and data["level"] == "minimum"
    # every check is reported, with the guide's section and level
    assert set(checks) >= {"net.public_plain", "files.modes", "software.openssl",
                           "backup.age", "policy.media", "users.client_certs",
                           "peers.tls", "emergency.routes", "keys.rotation",
                           "store.durability"}
    for c in checks.values():
        assert c["section"] and c["level"] in ("minimum", "medium", "highest")
        assert c["status"] in ("pass", "warn", "fail", "n/a") and c["found"]
        assert c["counted"] == (c["level"] == "minimum")
    # no peers configured: nothing to encrypt; the durability choice is shown
    assert checks["peers.tls"]["status"] == "pass"
    assert "no peers" in checks["peers.tls"]["found"]
    assert checks["store.durability"]["status"] == "pass"
    assert "durability = process" in checks["store.durability"]["found"]
    # no peers yet: emergency numbers cannot be reached, and the audit says so
    assert checks["emergency.routes"]["status"] == "warn"
    assert "no peers" in checks["emergency.routes"]["found"]
    assert checks["emergency.unauthenticated"]["status"] == "pass"
    # the same installation fails at medium: plain signaling is allowed
    rc, _, checks = audit(st, "--level", "medium")
    assert rc == 1 and checks["policy.signaling"]["status"] == "fail"
    assert "signaling = tls-required" in checks["policy.signaling"]["fix"]


def test_audit_highest_followed_to_a_pass(tmp_path):
    """init --profile highest, audit, apply the fixes it names, pass."""
    st = tmp_path / "s"
    assert run_cli("init", "--state", str(st), "--profile", "highest").returncode == 0
    r = cli(st, "audit", "--level", "highest")
    assert r.returncode == 1
    assert "FAIL  keys.ca_offline" in r.stdout and "fix:   move STATE/ca.key" in r.stdout
    # a user without a client certificate fails the highest level
    assert cli(st, "user", "add", "1001", "--generate").returncode == 0
    rc, _, checks = audit(st)
    assert rc == 1 and checks["users.client_certs"]["status"] == "fail"
    assert "1001@localhost" in checks["users.client_certs"]["found"]
    # follow the fixes: bind the user to a certificate, take the CA key offline
    assert cli(st, "tls", "issue", "1001").returncode == 0
    assert cli(st, "user", "cert", "1001", "require").returncode == 0
    offline = tmp_path / "offline"
    offline.mkdir()
    shutil.move(str(st / "ca.key"), str(offline / "ca.key"))
    rc, data, checks = audit(st)
    assert rc == 0, [c for c in data["checks"] if c["status"] == "fail"]
    assert checks["keys.ca_offline"]["status"] == "pass"


def test_audit_finds_what_is_wrong(tmp_path):
    st = tmp_path / "s"
    assert run_cli("init", "--state", str(st), "--demo",
                   "--listen", "udp:0.0.0.0:5999").returncode == 0
    os.chmod(st / "nonce.key", 0o644)
    with open(st / "bastion.conf", "a") as f:
        f.write("\n[log]\nsyslog = no\n[server]\nserver_header = Bastion 1.0\n")
    rc, data, checks = audit(st, "--level", "minimum")
    assert rc == 1 and data["ok"] is False
    assert checks["files.modes"]["status"] == "fail"
    assert "nonce key" in checks["files.modes"]["found"] and "0644" in checks["files.modes"]["found"]
    assert checks["users.default_passwords"]["status"] == "fail"
    assert checks["net.public_plain"]["status"] == "fail"
    assert "udp:0.0.0.0" in checks["net.public_plain"]["found"]
    assert checks["config.server_header"]["status"] == "warn"
    # a medium-level check is shown but not counted at minimum
    assert checks["log.off_host"]["status"] == "fail" and checks["log.off_host"]["counted"] is False
    # a gateway reached in clear over a public address fails medium (not counted at
    # minimum); [store] durability = power is shown as such
    with open(st / "bastion.conf", "a") as f:
        f.write("\n[store]\ndurability = power\n"
                "[peer carrier]\naddress = udp:198.51.100.20:5060\n")
    _, _, checks = audit(st, "--level", "minimum")
    assert checks["peers.tls"]["status"] == "fail" and checks["peers.tls"]["counted"] is False
    assert "carrier" in checks["peers.tls"]["found"] and "tls_name" in checks["peers.tls"]["fix"]
    assert "durability = power" in checks["store.durability"]["found"]
    # imported MD5-only users: strength unknown (warn), and they fail highest
    csv = tmp_path / "u.csv"
    csv.write_text("3001,localhost,0123456789abcdef0123456789abcdef\n")
    assert cli(st, "user", "import", str(csv)).returncode == 0
    _, _, checks = audit(st, "--level", "highest")
    assert checks["users.password_strength"]["status"] == "warn"
    assert checks["auth.md5"]["status"] == "fail" and "3001" in checks["auth.md5"]["found"]


def test_audit_usage_errors(tmp_path):
    r = run_cli("--state", str(tmp_path / "none"), "audit", "--level", "extreme")
    assert r.returncode == 2 and "minimum, medium or highest" in r.stderr
    r = run_cli("--state", str(tmp_path / "none"), "audit")
    assert r.returncode == 1 and "bastion init" in r.stderr


def test_mitigations_doc_matches_the_audit_table():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, "docs", "mitigations.md")) as f:
        doc = f.read()
    start = doc.index("<!-- BEGIN GENERATED AUDIT -->")
    end = doc.index("<!-- END GENERATED AUDIT -->")
    ref = run_cli("audit", "--reference").stdout
    assert doc[start:end].split("\n", 1)[1].strip() == ref.strip(), \
        "docs/mitigations.md is stale: run scripts/regen_docs.py"


# ---- backup and restore -----------------------------------------------------------------

def restarted(old, state=None):
    """A Server object for a state made by restore (same listeners as old)."""
    s = Server.__new__(Server)
    s.__dict__.update(old.__dict__)  # listeners and whatever else the harness keeps
    s.state = str(state or old.state)
    s.log_path = os.path.join(s.state, "serve.log")
    s.proc = None
    return s


def test_backup_restore_serves_the_old_phones(make_server, tmp_path):
    s = make_server()
    import_users(s, USERS, tmp_path)
    a, b = Phone(s, "1001", USERS["1001"]), Phone(s, "1002", USERS["1002"])
    a.register()
    b.register()
    # a call, so there is a call record
    call_id, _, cseq = a.invite("1002")
    a.expect_status(100, "INVITE")
    _, totag = b.answer()
    _, ok, _ = a.expect_status(200, "INVITE")
    a.in_dialog("ACK", ok, call_id, cseq, totag, a.tag)
    a.in_dialog("BYE", ok, call_id, cseq + 1, totag, a.tag)
    _, bye, _ = b.expect_request("BYE")
    b.respond(bye, 200, "OK", totag)
    a.expect_status(200, "BYE")
    wait_until(lambda: [r for r in cdrs(s) if r["call_id"] == call_id], what="CDR")
    assert cli(s.state, "ban", "add", "192.0.2.77", "2h").returncode == 0
    wait_until(lambda: "1002" in cli(s.state, "reg", "list").stdout, what="bindings stored")

    # back up while the server runs
    pf = passfile(tmp_path)
    bak = str(tmp_path / "site.bak")
    r = cli(s.state, "backup", "--to", bak, "--passphrase-file", pf)
    assert r.returncode == 0, r.stderr
    assert "AES-256-GCM" in r.stdout and "backup verify" in r.stdout
    assert os.stat(bak).st_mode & 0o777 == 0o600
    r = run_cli("backup", "verify", bak, "--passphrase-file", pf)
    assert r.returncode == 0, r.stderr
    assert "integrity check" in r.stdout and "bastion.db" in r.stdout
    # a second backup never overwrites the first
    r = cli(s.state, "backup", "--to", bak, "--passphrase-file", pf)
    assert r.returncode == 1 and "exists" in r.stderr
    a.close()
    b.close()

    # lose the server and its state
    assert s.stop() == 0
    shutil.rmtree(s.state)
    r = run_cli("restore", "--from", bak, "--state", s.state, "--passphrase-file", pf)
    assert r.returncode == 0, r.stderr
    assert "Restored" in r.stdout and "serve" in r.stdout
    assert os.stat(os.path.join(s.state, "bastion.db")).st_mode & 0o777 == 0o600
    assert os.stat(os.path.join(s.state, "nonce.key")).st_mode & 0o777 == 0o600
    s2 = restarted(s)
    s2.start()
    try:
        # bindings, bans and call records are back
        assert "1002" in cli(s2.state, "reg", "list").stdout
        assert "192.0.2.77" in cli(s2.state, "ban", "list").stdout
        assert call_id in cli(s2.state, "cdr", "list").stdout
        # phones register with their old passwords
        p = Phone(s2, "1001", USERS["1001"])
        p.register()
        p.close()
        # the restore and the backup are on record
        _, _, checks = audit(s2.state)
        assert checks["backup.age"]["status"] == "pass"
        assert [e for e in events(s2, "admin.restore")]
    finally:
        assert s2.stop() == 0


def test_backup_refusals_write_nothing(make_server, tmp_path):
    s = make_server()
    pf = passfile(tmp_path)
    bak = tmp_path / "b.bak"
    assert cli(s.state, "backup", "--to", str(bak), "--passphrase-file", pf).returncode == 0
    data = bak.read_bytes()
    target = tmp_path / "restored"

    def refused(path, pfile, why):
        r = run_cli("backup", "verify", str(path), "--passphrase-file", pfile)
        assert r.returncode == 1 and why in r.stderr, r.stderr
        r = run_cli("restore", "--from", str(path), "--state", str(target),
                    "--passphrase-file", pfile)
        assert r.returncode == 1 and why in r.stderr and "nothing was written" in r.stderr
        assert not os.path.exists(target)
        assert not [n for n in os.listdir(tmp_path) if n.startswith("restored")]

    # one flipped byte, anywhere in the encrypted part
    for off in (80, len(data) // 2, len(data) - 1):
        flipped = bytearray(data)
        flipped[off] ^= 0x01
        (tmp_path / "flip.bak").write_bytes(bytes(flipped))
        refused(tmp_path / "flip.bak", pf, "altered")
    # truncated
    (tmp_path / "trunc.bak").write_bytes(data[:len(data) - 100])
    refused(tmp_path / "trunc.bak", pf, "truncated")
    (tmp_path / "tiny.bak").write_bytes(data[:40])
    refused(tmp_path / "tiny.bak", pf, "truncated")
    # foreign
    (tmp_path / "foreign.bak").write_bytes(b"SQLite format 3\0" + data[16:])
    refused(tmp_path / "foreign.bak", pf, "not a Bastion backup")
    # wrong passphrase
    refused(bak, passfile(tmp_path, "another passphrase entirely", "wrong"), "wrong passphrase")
    # a weak passphrase is refused for a new backup
    r = cli(s.state, "backup", "--to", str(tmp_path / "weak.bak"),
            "--passphrase-file", passfile(tmp_path, "short", "weak"))
    assert r.returncode == 1 and "passphrase refused" in r.stderr
    assert not os.path.exists(tmp_path / "weak.bak")
    # restore never writes into a state that exists
    r = run_cli("restore", "--from", str(bak), "--state", s.state, "--passphrase-file", pf)
    assert r.returncode == 1 and "not empty" in r.stderr


def x25519_pair(tmp_path, name="backup", passphrase=None):
    """An X25519 key pair made with the openssl command, as docs/operations.md says
    (the private key would be made and kept on another machine)."""
    key, pub = tmp_path / f"{name}.key", tmp_path / f"{name}.pub"
    cmd = ["openssl", "genpkey", "-algorithm", "X25519", "-out", str(key)]
    if passphrase:
        cmd[2:2] = ["-aes-256-cbc", "-pass", f"pass:{passphrase}"]
    subprocess.run(cmd, check=True, capture_output=True)
    extra = ["-passin", f"pass:{passphrase}"] if passphrase else []
    subprocess.run(["openssl", "pkey", "-in", str(key), *extra, "-pubout", "-out", str(pub)],
                   check=True, capture_output=True)
    return str(key), str(pub)


def test_backup_to_public_key_restore_with_private_key(make_server, tmp_path):
    """backup --to-public-key: the server holds only the public key; verify and
    restore need the private one; the restored state serves the old phones."""
    s = make_server()
    import_users(s, USERS, tmp_path)
    from conftest import Registrar
    reg = Registrar(s, "1001", USERS["1001"])
    wait_until(lambda: reg_status(reg)[0] == 200, what="the imported user registers")
    reg.close()
    assert cli(s.state, "ban", "add", "192.0.2.78", "2h").returncode == 0
    key, pub = x25519_pair(tmp_path)
    bak = str(tmp_path / "pub.bak")
    r = cli(s.state, "backup", "--to", bak, "--to-public-key", pub)
    assert r.returncode == 0, r.stderr
    assert "X25519" in r.stdout and "cannot decrypt" in r.stdout and "--private-key" in r.stdout
    assert os.stat(bak).st_mode & 0o777 == 0o600
    # no passphrase opens it; the private key does
    r = run_cli("backup", "verify", bak, "--passphrase-file", passfile(tmp_path))
    assert r.returncode == 1 and "encrypted to a public key" in r.stderr
    r = run_cli("backup", "verify", bak, "--private-key", key)
    assert r.returncode == 0, r.stderr
    assert "private key" in r.stdout and "integrity check" in r.stdout
    # the private key given to a backup command is refused: it stays off the server
    r = cli(s.state, "backup", "--to", str(tmp_path / "x.bak"), "--to-public-key", key)
    assert r.returncode == 1 and "private key" in r.stderr
    assert not os.path.exists(tmp_path / "x.bak")
    log_key = open(os.path.join(s.state, "log.key"), "rb").read()
    assert s.stop() == 0
    shutil.rmtree(s.state)
    r = run_cli("restore", "--from", bak, "--state", s.state, "--private-key", key)
    assert r.returncode == 0, r.stderr
    # every key comes back, the log checkpoint key too (old logs still verify)
    assert open(os.path.join(s.state, "log.key"), "rb").read() == log_key
    assert os.stat(os.path.join(s.state, "log.key")).st_mode & 0o777 == 0o600
    s2 = restarted(s)
    s2.start()
    try:
        assert "192.0.2.78" in cli(s2.state, "ban", "list").stdout
        p = Phone(s2, "1002", USERS["1002"])
        p.register()
        p.close()
    finally:
        assert s2.stop() == 0


def test_backup_to_public_key_refusals_write_nothing(make_server, tmp_path):
    s = make_server()
    key, pub = x25519_pair(tmp_path)
    other, _ = x25519_pair(tmp_path, "other")
    locked, locked_pub = x25519_pair(tmp_path, "locked", passphrase="locked key passphrase 1")
    bak = tmp_path / "p.bak"
    assert cli(s.state, "backup", "--to", str(bak), "--to-public-key", pub).returncode == 0
    data = bak.read_bytes()
    target = tmp_path / "restored"

    def refused(path, why, k=key, *extra):
        for args in (["backup", "verify", str(path)],
                     ["restore", "--from", str(path), "--state", str(target)]):
            r = run_cli(*args, "--private-key", k, *extra)
            assert r.returncode == 1 and why in r.stderr, (args, r.stderr)
            assert not os.path.exists(target)
            assert not [n for n in os.listdir(tmp_path) if n.startswith("restored")]

    refused(bak, "wrong private key", other)
    for off in (20, 50, 70, 100, len(data) // 2, len(data) - 1):
        flipped = bytearray(data)
        flipped[off] ^= 0x01
        (tmp_path / "flip.bak").write_bytes(bytes(flipped))
        refused(tmp_path / "flip.bak", "altered" if off != 50 else "wrong private key")
    (tmp_path / "trunc.bak").write_bytes(data[:len(data) - 50])
    refused(tmp_path / "trunc.bak", "truncated")
    (tmp_path / "foreign.bak").write_bytes(b"-----BEGIN PGP MESSAGE-----\n" + data[28:])
    refused(tmp_path / "foreign.bak", "not a Bastion backup")
    # a passphrase backup wants its passphrase, not a key
    pf = passfile(tmp_path)
    assert cli(s.state, "backup", "--to", str(tmp_path / "pp.bak"),
               "--passphrase-file", pf).returncode == 0
    refused(tmp_path / "pp.bak", "not to a public key")
    # an encrypted private key is unlocked with --passphrase-file
    lb = tmp_path / "l.bak"
    assert cli(s.state, "backup", "--to", str(lb), "--to-public-key", locked_pub).returncode == 0
    refused(lb, "give --passphrase-file", locked)
    r = run_cli("backup", "verify", str(lb), "--private-key", locked, "--passphrase-file",
                passfile(tmp_path, "locked key passphrase 1", "lk"))
    assert r.returncode == 0, r.stderr
    # what is not an X25519 public key
    for bad, why in ((s.state + "/ca.crt", "not a PEM public key"),
                     (s.state + "/server.key", "private key")):
        r = cli(s.state, "backup", "--to", str(tmp_path / "n.bak"), "--to-public-key", bad)
        assert r.returncode == 1 and why in r.stderr, r.stderr
        assert not os.path.exists(tmp_path / "n.bak")
    assert cli(s.state, "backup", "--to", str(tmp_path / "n.bak"), "--to-public-key", pub,
               "--passphrase-file", pf).returncode == 2


# ---- rotation -----------------------------------------------------------------------------

def der_of(path):
    with open(path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def tls_options(sock):
    msg = (f"OPTIONS sip:{DOMAIN} SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK"
           f"{os.urandom(6).hex()}\r\nMax-Forwards: 70\r\nFrom: <sip:t@{DOMAIN}>;tag=1\r\n"
           f"To: <sip:{DOMAIN}>\r\nCall-ID: {os.urandom(8).hex()}\r\nCSeq: 1 OPTIONS\r\n"
           "Content-Length: 0\r\n\r\n").encode()
    sock.sendall(msg)
    sock.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def tls_connect(server, cert=None):
    raw = socket.create_connection(("127.0.0.1", server.tls_port), timeout=5)
    return tls_context(server, cert).wrap_socket(raw, server_hostname=DOMAIN)


def test_rotate_server_key_live_keeps_the_connection(make_server):
    s = make_server(tls=True)
    crt = os.path.join(s.state, "server.crt")
    old = der_of(crt)
    kept = tls_connect(s)
    assert status_of(tls_options(kept))[0] == 200
    r = cli(s.state, "rotate", "--server-key", "--ticket-keys")
    assert r.returncode == 0, r.stderr
    assert "Told the running server" in r.stdout
    s.wait_log("TLS certificate reloaded", count=1)
    new = der_of(crt)
    assert new != old
    # the connection made before goes on, a new one gets the new certificate
    assert status_of(tls_options(kept))[0] == 200
    with tls_connect(s) as c:
        assert c.getpeercert(binary_form=True) == new
        assert status_of(tls_options(c))[0] == 200
    assert status_of(tls_options(kept))[0] == 200
    kept.close()
    _, _, checks = audit(s.state)
    assert "server-key 20" in checks["keys.rotation"]["found"]
    assert "ticket-keys 20" in checks["keys.rotation"]["found"]
    ev = events(s, "admin.rotate")
    assert ev and "--server-key" in ev[-1]["reason"] and ev[-1]["os_user"]


def test_rotate_nonce_key_and_passwords_live(make_server, tmp_path):
    s = make_server()
    import_users(s, USERS, tmp_path)
    from conftest import Registrar
    reg = Registrar(s, "1001", USERS["1001"])
    assert status_of(reg.register())[0] == 200
    out = tmp_path / "new-passwords"
    r = cli(s.state, "rotate", "--nonce-key", "--passwords", "--out", str(out))
    assert r.returncode == 0, r.stderr
    s.wait_log("nonce key replaced")
    assert os.stat(out).st_mode & 0o777 == 0o600
    lines = dict(l.split(" ", 1) for l in out.read_text().splitlines() if not l.startswith("#"))
    new = lines[f"1001@{DOMAIN}"].strip()
    # the credentials captured before are refused: the nonce is from the old key
    replay = reg.send(reg.request(auth=reg.last_auth))
    assert status_of(replay)[0] == 401
    # the old password stops working once the server has seen the change
    wait_until(lambda: status_of(reg.register())[0] == 403, what="old password refused")
    reg.password = new
    assert status_of(reg.register())[0] == 200
    reg.close()
    # --passwords without --out is a usage error; --out never overwrites
    assert cli(s.state, "rotate", "--passwords").returncode == 2
    r = cli(s.state, "rotate", "--passwords", "--out", str(out))
    assert r.returncode == 1 and "must not exist" in r.stderr


def test_reload_with_unreadable_nonce_key_keeps_the_running_one(make_server, tmp_path):
    """SIGHUP with a nonce key file the server may not use (group-readable):
    the reload says so, word for word, and the running key keeps serving."""
    import signal
    s = make_server()
    import_users(s, USERS, tmp_path)
    from conftest import Registrar
    reg = Registrar(s, "1001", USERS["1001"])
    assert status_of(reg.register())[0] == 200
    key = os.path.join(s.state, "nonce.key")
    os.chmod(key, 0o640)
    try:
        s.signal(signal.SIGHUP)
        s.wait_log(f"reload: nonce key {key} not read, keeping the running one: "
                   "Permission denied", timeout=30)
        s.wait_log("configuration reloaded from", timeout=30)
        assert "nonce key replaced" not in s.log_text()
        assert status_of(reg.register())[0] == 200
    finally:
        os.chmod(key, 0o600)
    reg.close()


def reg_status(reg, password=None):
    r = reg.register(password=password)
    return (status_of(r) or (None, ""))[0], r


def warning_of(reply):
    return " ".join(header(reply, "Warning"))


def test_rotate_passwords_deadline_old_ones_work_until_then(store_server, tmp_path):
    """--out and --deadline: new passwords work at once, the old ones until the
    deadline (the phone is told: Warning header, event), then 403 Password
    Expired. The deadline is moved to now with a second command."""
    s = store_server()
    import_users(s, USERS, tmp_path)
    from conftest import Registrar
    reg = Registrar(s, "1001", USERS["1001"])
    wait_until(lambda: reg_status(reg)[0] == 200, what="the imported user registers")
    # nothing pending: moving a deadline is refused, nothing changed
    r = scli(s, "rotate", "--move-deadline", "now")
    assert r.returncode == 1 and "no user has a password deadline" in r.stderr
    out = tmp_path / "new-passwords"
    r = scli(s, "rotate", "--passwords", "--out", str(out), "--deadline", "+1d")
    assert r.returncode == 0, r.stderr
    assert "keep working until" in r.stdout and "--move-deadline" in r.stdout
    lines = dict(l.split(" ", 1) for l in out.read_text().splitlines() if not l.startswith("#"))
    new = lines[f"1001@{DOMAIN}"].strip()
    # once the server has the change, both work; the old one is told
    wait_until(lambda: reg_status(reg, password=new)[0] == 200, what="new password accepted")
    assert "stops working" not in warning_of(reg.register(password=new))
    code, reply = reg_status(reg)
    assert code == 200
    assert "This password stops working at" in warning_of(reply), reply
    ev = wait_until(lambda: [e for e in events(s, "auth.old_password") if e["user"] == "1001"],
                    what="auth.old_password event")
    assert "new password" in ev[-1]["reason"]
    show = scli(s, "user", "show", "1001")
    assert "before the last rotation works until" in show.stdout
    assert "old-password-until" in scli(s, "user", "list").stdout
    # the deadline moves to now: from then on the old password is refused
    r = scli(s, "rotate", "--move-deadline", "now")
    assert r.returncode == 0, r.stderr
    assert "the deadline of 2 users" in r.stdout and "passed" in r.stdout
    code, reply = wait_until(lambda: (lambda c: c if c[0] == 403 else None)(reg_status(reg)),
                             what="old password refused")
    assert status_of(reply) == (403, "Password Expired")
    ev = [e for e in events(s, "auth.password_expired") if e["user"] == "1001"]
    assert ev and ev[-1]["status"] == 403 and "deadline" in ev[-1]["reason"]
    # the new one goes on, without a warning
    code, reply = reg_status(reg, password=new)
    assert code == 200 and not warning_of(reply)
    # an INVITE with the old password is refused the same way
    reg.close()
    ph = Phone(s, "1001", USERS["1001"])
    ph.invite("1002")
    start, _, _ = ph.expect_status(403, "INVITE")
    assert start == "SIP/2.0 403 Password Expired"
    ph.close()
    # a wrong password is still a plain 403 Forbidden, not "expired"
    bad = Registrar(s, "1002", "not-the-password-at-all")
    assert status_of(bad.register()) == (403, "Forbidden")
    bad.close()
    # refused usages
    assert scli(s, "rotate", "--passwords", "--deadline", "tomorrow").returncode == 2
    assert scli(s, "rotate", "--deadline", "+1d").returncode == 2
    assert scli(s, "rotate", "--passwords", "--deadline", "+1d",
               "--move-deadline", "now").returncode == 2


def test_rotate_passwords_deadline_must_change(store_server, tmp_path):
    """--deadline without --out: nothing generated; each user is told to change
    its password until the deadline; one changed by the administrator is done;
    the others get 403 Password Expired after it."""
    s = store_server()
    import_users(s, USERS, tmp_path)
    from conftest import Registrar
    a = Registrar(s, "1001", USERS["1001"])
    b = Registrar(s, "1002", USERS["1002"])
    wait_until(lambda: reg_status(a)[0] == 200, what="the imported user registers")
    r = scli(s, "rotate", "--passwords", "--deadline", "+2h")
    assert r.returncode == 0, r.stderr
    assert "2 users must change their password by" in r.stdout
    wait_until(lambda: "stops working" in warning_of(reg_status(a)[1]),
               what="the phone is told to change")
    assert [e for e in events(s, "auth.password_change_due") if e["user"] == "1001"]
    assert "change-password-by" in scli(s, "user", "list").stdout
    # the administrator sets 1002's new password: its mark ends
    new = "a brand new passphrase, changed"
    r = scli(s, "user", "passwd", "1002", "--password-stdin", input=new + "\n")
    assert r.returncode == 0, r.stderr
    assert "rotation" not in scli(s, "user", "show", "1002").stdout
    r = scli(s, "rotate", "--move-deadline", "now")
    assert r.returncode == 0 and "the deadline of 1 users" in r.stdout, r.stdout + r.stderr
    code, reply = wait_until(lambda: (lambda c: c if c[0] == 403 else None)(reg_status(a)),
                             what="unchanged password refused")
    assert status_of(reply) == (403, "Password Expired")
    code, reply = wait_until(lambda: (lambda c: c if c[0] == 200 else None)(
        reg_status(b, password=new)), what="the changed password works")
    assert not warning_of(reply)
    a.close()
    b.close()


def issued_copy(server, tmp_path, name):
    """Issue NAME's certificate into issued/ and keep a copy, as the phone would."""
    r = cli(server.state, "tls", "issue", name)
    assert r.returncode == 0, r.stderr
    out = []
    for ext in ("crt", "key"):
        dst = tmp_path / f"{name}.{ext}"
        shutil.copy(os.path.join(server.state, "issued", f"{name}.{ext}"), dst)
        out.append(str(dst))
    return tuple(out)


def handshake_refused(server, cert):
    try:
        with tls_connect(server, cert) as c:
            data = tls_options(c)  # TLS 1.3: the refusal arrives with the first read
            return not data
    except (ssl.SSLError, ConnectionError, OSError):
        return True


def test_rotate_client_certs_revokes_in_the_handshake(make_server, tmp_path):
    s = make_server("[tls]\nverify_client = optional", tls=True)
    p1, p2 = issued_copy(s, tmp_path, "phone1"), issued_copy(s, tmp_path, "phone2")
    for cert in (p1, p2):
        with tls_connect(s, cert) as c:
            assert status_of(tls_options(c))[0] == 200
    # one phone's certificate
    r = cli(s.state, "rotate", "--client-certs", "--cert", "phone2")
    assert r.returncode == 0, r.stderr
    assert "revoked phone2" in r.stdout and "phone1" not in r.stdout
    s.wait_log("TLS certificate reloaded")
    assert handshake_refused(s, p2)
    with tls_connect(s, p1) as c:
        assert status_of(tls_options(c))[0] == 200
    r = cli(s.state, "rotate", "--client-certs", "--cert", "phone2")
    assert r.returncode == 1 and "nothing revoked" in r.stderr
    # every phone's: the list keeps phone2 and adds phone1
    r = cli(s.state, "rotate", "--client-certs")
    assert r.returncode == 0, r.stderr
    assert "revoked phone1" in r.stdout and "2 in" in r.stdout
    s.wait_log("TLS certificate reloaded", count=2)
    assert handshake_refused(s, p1) and handshake_refused(s, p2)
    # a certificate issued afterwards is accepted
    (tmp_path / "new").mkdir()
    new = issued_copy(s, tmp_path / "new", "phone1")
    with tls_connect(s, new) as c:
        assert status_of(tls_options(c))[0] == 200


def test_rotate_usage_and_offline_ca(tmp_path):
    st = tmp_path / "s"
    assert run_cli("init", "--state", str(st)).returncode == 0
    r = cli(st, "rotate")
    assert r.returncode == 2 and "--server-key" in r.stderr
    shutil.move(str(st / "ca.key"), str(tmp_path / "ca.key"))
    r = cli(st, "rotate", "--server-key")
    assert r.returncode == 1 and "--ca-key" in r.stderr
    r = cli(st, "rotate", "--server-key", "--ca-key", str(tmp_path / "ca.key"))
    assert r.returncode == 0, r.stderr
    assert "No running server" in r.stdout
    # a new CA: the server certificate is reissued from it
    r = cli(st, "rotate", "--ca", "--passphrase-file", passfile(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "encrypted" in r.stdout
    ca = ssl.PEM_cert_to_DER_cert((st / "ca.crt").read_text())
    ctx = ssl.create_default_context(cafile=str(st / "ca.crt"))
    assert ca and ctx  # the new CA parses
    show = cli(st, "tls", "show").stdout
    assert "encrypted" in show


# ---- admin events ---------------------------------------------------------------------------

def test_admin_events_name_the_os_user_and_never_a_secret(tmp_path):
    st = tmp_path / "s"
    assert run_cli("init", "--state", str(st)).returncode == 0
    secret = "Unguessable-Pass-Phrase-42"
    r = cli(st, "user", "add", "2001", "--password-stdin", input=secret + "\n",
            env={"SUDO_USER": "alice"})
    assert r.returncode == 0, r.stderr
    assert cli(st, "ban", "add", "192.0.2.5", "1h").returncode == 0
    assert cli(st, "user", "list").returncode == 0            # reads: no event
    r = cli(st, "user", "del", "nobody")                        # refused: an event too
    assert r.returncode == 1
    text = (st / "security.log").read_text()
    assert secret not in text
    evs = [json.loads(l) for l in text.splitlines()]
    kinds = [e["kind"] for e in evs]
    assert kinds == ["admin.init", "admin.user_add", "admin.ban_add", "admin.user_del"], kinds
    add = evs[1]
    assert add["user"] == "2001" and add["sudo_user"] == "alice" and add["os_user"]
    assert add["reason"].startswith("done: user add 2001")
    assert evs[3]["reason"].startswith("refused (exit 1)")
    # peers: add and del are events naming the peer; list and show read only
    r = cli(st, "peer", "add", "gw1", "--address", "udp:192.0.2.10:5060")
    assert r.returncode == 0, r.stderr
    assert cli(st, "peer", "list").returncode == 0
    assert cli(st, "peer", "show", "gw1").returncode == 0
    assert cli(st, "peer", "del", "gw1").returncode == 0
    evs = [json.loads(l) for l in (st / "security.log").read_text().splitlines()][4:]
    assert [(e["kind"], e.get("user")) for e in evs] == [("admin.peer_add", "gw1"),
                                                        ("admin.peer_del", "gw1")], evs
