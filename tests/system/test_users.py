"""User management on the command line: init creates the key and the
database, init --demo, user add/passwd/show/list/enable/disable/del, the
password rules, bulk import, reg list. Every command runs the real binary on
a state directory under tmp_path."""
import hashlib
import os
import re
import sqlite3
import stat
import time

import pytest

from conftest import run_cli

DOMAIN = "example.org"


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def state(tmp_path):
    st = str(tmp_path / "st")
    r = run_cli("init", "--state", st, "--domain", DOMAIN)
    assert r.returncode == 0, r.stderr
    return st


def cli(state, *args, input=None):
    return run_cli("--state", state, *args, input=input)


def ha1(name, realm, password, algo="md5"):
    return hashlib.new(algo, f"{name}:{realm}:{password}".encode()).hexdigest()


def db_rows(state, sql="SELECT name, domain, realm, ha1_md5, ha1_sha256, enabled, "
                       "password_strength FROM users ORDER BY name"):
    con = sqlite3.connect(os.path.join(state, "bastion.db"))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


GENERATED = re.compile(r"Generated password \(shown only this once\): ([A-Za-z0-9]{20})$", re.M)


# ---- init ------------------------------------------------------------------


def test_init_creates_key_and_database(state):
    assert mode_of(os.path.join(state, "nonce.key")) == 0o600
    assert os.path.getsize(os.path.join(state, "nonce.key")) == 32
    assert mode_of(os.path.join(state, "bastion.db")) == 0o600
    tables = {t for (t,) in db_rows(state, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"users", "registrations"} <= tables
    assert not os.path.exists(os.path.join(state, "demo-credentials"))
    r = cli(state, "user", "list")
    assert r.returncode == 0 and "No users." in r.stdout


def test_init_still_refuses_to_overwrite(state):
    key = open(os.path.join(state, "nonce.key"), "rb").read()
    r = run_cli("init", "--state", state, "--demo")
    assert r.returncode == 1 and "refusing to overwrite" in r.stderr
    assert open(os.path.join(state, "nonce.key"), "rb").read() == key
    assert db_rows(state) == []


def test_init_demo(tmp_path):
    st = str(tmp_path / "demo")
    r = run_cli("init", "--state", st, "--domain", DOMAIN, "--listen", "udp:127.0.0.1:5077",
                "--demo")
    assert r.returncode == 0, r.stderr
    creds = os.path.join(st, "demo-credentials")
    assert mode_of(creds) == 0o600
    text = open(creds).read()
    pws = dict(re.findall(r"^(100[12])@example\.org password=([A-Za-z0-9]{20})$", text, re.M))
    assert set(pws) == {"1001", "1002"}
    for name, pw in pws.items():
        assert f"{name}@{DOMAIN} password={pw}" in r.stdout  # printed once
    assert "127.0.0.1:5077" in r.stdout and "realm example.org" in r.stdout
    rows = {row[0]: row for row in db_rows(st)}
    for name, pw in pws.items():
        _, domain, realm, md5, sha, enabled, strength = rows[name]
        assert (domain, realm, enabled, strength) == (DOMAIN, DOMAIN, 1, "checked")
        assert md5 == ha1(name, DOMAIN, pw)
        assert sha == ha1(name, DOMAIN, pw, "sha256")
    # The demo file is never overwritten: a second init is refused as a whole.
    r = run_cli("init", "--state", st, "--demo")
    assert r.returncode == 1
    assert open(creds).read() == text


# ---- add, rules ----------------------------------------------------------------


def test_add_generate(state):
    r = cli(state, "user", "add", "1001", "--generate")
    assert r.returncode == 0, r.stderr
    pw = GENERATED.search(r.stdout).group(1)
    [(name, domain, realm, md5, sha, enabled, strength)] = db_rows(state)
    assert (name, domain, realm, enabled, strength) == ("1001", DOMAIN, DOMAIN, 1, "checked")
    assert md5 == ha1("1001", DOMAIN, pw) and sha == ha1("1001", DOMAIN, pw, "sha256")
    assert pw not in open(os.path.join(state, "bastion.db"), "rb").read().decode("latin-1")


def test_add_password_stdin_and_other_domain(state):
    pw = "correct horse battery staple"
    r = cli(state, "user", "add", "alice", "--domain", "other.example", "--password-stdin",
            input=pw + "\n")
    assert r.returncode == 0, r.stderr
    assert pw not in r.stdout + r.stderr
    [(name, domain, realm, md5, sha, _, _)] = db_rows(state)
    # The realm is the server's (conf realm, else its domain), whatever the user's domain.
    assert (name, domain, realm) == ("alice", "other.example", DOMAIN)
    assert md5 == ha1("alice", DOMAIN, pw)
    r = cli(state, "user", "show", "alice", "--domain", "other.example")
    assert r.returncode == 0 and "alice@other.example" in r.stdout


@pytest.mark.parametrize("password,message", [
    ("short1234", "too short: at least 12 characters"),
    ("", "no password on standard input"),
    ("my-bob-is-the-best", "must not contain the user name"),
    ("xxBOBxxxxxxxxxx", "must not contain the user name"),
    ("passwordpassword", "list of common passwords"),
    ("123456789012", "list of common passwords"),
    ("QwertyuiopAsdfgh", "list of common passwords"),
    ("iloveyou12345", "list of common passwords"),
])
def test_password_rules(state, password, message):
    r = cli(state, "user", "add", "bob", "--password-stdin",
            input=(password + "\n") if password else "")
    assert r.returncode == 1
    assert message in r.stderr, r.stderr
    assert db_rows(state) == []


def test_empty_line_is_too_short(state):
    r = cli(state, "user", "add", "bob", "--password-stdin", input="\n")
    assert r.returncode == 1 and "too short" in r.stderr
    assert db_rows(state) == []


@pytest.mark.parametrize("name,message", [
    ("bob@example.org", "must not contain '@'"),
    ("sip:bob", "must not contain ':'"),
    ("bo b", "must not contain ' '"),
    ("a" * 65, "longer than 64"),
])
def test_bad_user_names(state, name, message):
    r = cli(state, "user", "add", name, "--generate")
    assert r.returncode == 1 and message in r.stderr, r.stderr
    assert db_rows(state) == []


def test_usage_errors(state):
    assert cli(state, "user", "add", "bob").returncode == 2
    assert cli(state, "user", "add", "bob", "--generate", "--password-stdin").returncode == 2
    assert cli(state, "user", "frob").returncode == 2
    assert cli(state, "user").returncode == 2
    assert cli(state, "reg", "show").returncode == 2


def test_duplicate_and_unknown(state):
    assert cli(state, "user", "add", "1001", "--generate").returncode == 0
    r = cli(state, "user", "add", "1001", "--generate")
    assert r.returncode == 1 and "user 1001@example.org already exists" in r.stderr
    for sub in ("show", "disable", "enable", "del"):
        r = cli(state, "user", sub, "1003")
        assert r.returncode == 1, sub
        assert "bastion: user 1003@example.org does not exist" in r.stderr, sub
    r = cli(state, "user", "passwd", "1003", "--generate")
    assert r.returncode == 1 and "user 1003@example.org does not exist" in r.stderr


# ---- list, show, passwd, enable, disable, del ------------------------------------


def test_lifecycle_and_no_ha1_in_output(state):
    outputs = []

    def run(*args, input=None):
        r = cli(state, *args, input=input)
        outputs.append(r.stdout + r.stderr)
        assert r.returncode == 0, r.stderr
        return r

    run("user", "add", "1001", "--generate")
    run("user", "add", "1002", "--password-stdin", input="a fine long passphrase\n")
    r = run("user", "list")
    lines = r.stdout.splitlines()
    assert len(lines) == 2
    assert re.match(r"1001@example\.org\s+enabled\s+password checked\s+created \d{4}-\d\d-\d\d "
                    r"[\d:]+ UTC\s+changed \d{4}-", lines[0]), lines[0]
    r = run("user", "show", "1002")
    assert "1002@example.org" in r.stdout and "enabled" in r.stdout
    assert "strength checked" in r.stdout and "bindings:" in r.stdout and "none" in r.stdout
    old = db_rows(state)[1][3]
    r = run("user", "passwd", "1002", "--generate")
    pw = GENERATED.search(r.stdout).group(1)
    assert db_rows(state)[1][3] == ha1("1002", DOMAIN, pw) != old
    run("user", "passwd", "1002", "--password-stdin", input="another fine passphrase\r\n")
    assert db_rows(state)[1][3] == ha1("1002", DOMAIN, "another fine passphrase")
    r = cli(state, "user", "passwd", "1002", "--password-stdin", input="1002-is-my-number\n")
    assert r.returncode == 1 and "user name" in r.stderr
    assert db_rows(state)[1][3] == ha1("1002", DOMAIN, "another fine passphrase")

    run("user", "disable", "1001")
    assert "1001@example.org  disabled" in run("user", "list").stdout
    assert "disabled" in run("user", "show", "1001").stdout
    assert db_rows(state)[0][5] == 0
    run("user", "enable", "1001")
    assert db_rows(state)[0][5] == 1
    run("user", "show", "1001")
    run("reg", "list")
    run("reg", "list", "1001")

    # No output ever carried an HA1 value (nor a part of one).
    hashes = [v for row in db_rows(state) for v in (row[3], row[4])]
    for out in outputs:
        for h in hashes:
            assert h not in out and h[:16] not in out

    run("user", "del", "1001")
    r = cli(state, "user", "show", "1001")
    assert r.returncode == 1 and "does not exist" in r.stderr
    assert [row[0] for row in db_rows(state)] == ["1002"]


# ---- import ------------------------------------------------------------------------


def gen_lines(n, realm=DOMAIN):
    out = ["# name,domain,ha1_md5,ha1_sha256", ""]
    for i in range(n):
        name = f"u{i:05d}"
        md5 = ha1(name, realm, f"pw-{i}")
        if i % 2:
            out.append(f"{name},{DOMAIN},{md5.upper()},{ha1(name, realm, f'pw-{i}', 'sha256')}")
        else:
            out.append(f"{name},{DOMAIN},{md5}")
    return out


def test_import_10000(state, tmp_path):
    path = tmp_path / "users.csv"
    path.write_text("\n".join(gen_lines(10000)) + "\n")
    t0 = time.monotonic()
    r = cli(state, "user", "import", str(path))
    elapsed = time.monotonic() - t0
    print(f"\nimport of 10,000 users: {elapsed:.2f} s")
    assert r.returncode == 0, r.stderr
    assert "Imported 10000 users" in r.stdout
    rows = db_rows(state)
    assert len(rows) == 10000
    row = rows[1]  # u00001: upper-case MD5 lowered, SHA-256 present
    assert row[0] == "u00001" and row[3] == ha1("u00001", DOMAIN, "pw-1")
    assert row[4] == ha1("u00001", DOMAIN, "pw-1", "sha256")
    assert rows[0][4] == "" and rows[0][6] == "unknown"
    r = cli(state, "user", "show", "u00001")
    assert "strength unknown" in r.stdout
    assert row[3] not in r.stdout
    assert "password unknown" in cli(state, "user", "list").stdout


@pytest.mark.parametrize("bad,message", [
    ("u04998,example.org,1234", "ha1_md5 must be 32 hex digits"),
    ("u04998,example.org," + "g" * 32, "ha1_md5 must be 32 hex digits"),
    ("u04998,example.org," + "a" * 32 + ",abc", "ha1_sha256 must be 64 hex digits"),
    ("u04998,example.org", "expected name,domain,ha1_md5[,ha1_sha256]"),
    ("u 4998,example.org," + "a" * 32, "the user name must not contain ' '"),
    ("u04998,bad domain," + "a" * 32, "domain"),
    ("u00001,example.org," + "a" * 32, "user u00001@example.org already exists"),
])
def test_import_bad_line_imports_nothing(state, tmp_path, bad, message):
    lines = gen_lines(10000)
    lines[4999] = bad  # line 5000 of the file
    path = tmp_path / "users.csv"
    path.write_text("\n".join(lines) + "\n")
    r = cli(state, "user", "import", str(path))
    assert r.returncode == 1
    assert f"{path}:5000: {message}" in r.stderr, r.stderr
    assert db_rows(state) == []


def test_import_clash_with_existing_user(state, tmp_path):
    assert cli(state, "user", "add", "u00002", "--generate").returncode == 0
    path = tmp_path / "users.csv"
    path.write_text("\n".join(gen_lines(10)) + "\n")
    r = cli(state, "user", "import", str(path))
    assert r.returncode == 1
    assert f"{path}:5: user u00002@example.org already exists" in r.stderr
    assert len(db_rows(state)) == 1


# ---- reg list -----------------------------------------------------------------------


def test_reg_list_empty(state):
    r = cli(state, "reg", "list")
    assert r.returncode == 0 and "No registrations." in r.stdout
    r = cli(state, "reg", "list", "1003")
    assert r.returncode == 1 and "user 1003@example.org does not exist" in r.stderr


def test_reg_list_and_show_bindings(state):
    assert cli(state, "user", "add", "1001", "--generate").returncode == 0
    con = sqlite3.connect(os.path.join(state, "bastion.db"))
    uid = con.execute("SELECT id FROM users WHERE name='1001'").fetchone()[0]
    con.execute("INSERT INTO registrations (user_id, aor, contact, received, transport, "
                "expires_at, call_id, cseq, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (uid, "sip:1001@example.org", "sip:1001@192.0.2.7:5062", "udp:192.0.2.7:5062",
                 "udp", int(time.time()) + 600, "abc@x", 3, "Phone\x1b[31m 1.0"))
    con.commit()
    con.close()
    for args in (("reg", "list"), ("reg", "list", "1001"), ("user", "show", "1001")):
        r = cli(state, *args)
        assert r.returncode == 0, r.stderr
        assert "sip:1001@example.org" in r.stdout
        assert "contact sip:1001@192.0.2.7:5062" in r.stdout
        assert "received udp:192.0.2.7:5062" in r.stdout and "transport udp" in r.stdout
        assert re.search(r"expires in (59\d|600) s", r.stdout)
        assert "\x1b" not in r.stdout and 'user-agent "Phone\\x1b[31m 1.0"' in r.stdout


# ---- help, and with the server running --------------------------------------------


def test_help():
    r = run_cli("help")
    assert "bastion user " in r.stdout and "bastion reg list" in r.stdout
    for args in (("user", "--help"), ("user", "add", "--help"), ("reg", "--help"),
                 ("help", "user"), ("init", "--help")):
        r = run_cli(*args)
        assert r.returncode == 0 and r.stdout.startswith("usage: "), args
    assert "--password-stdin" in run_cli("user", "--help").stdout
    assert "--demo" in run_cli("init", "--help").stdout


def test_commands_work_while_server_runs(make_server):
    s = make_server()
    r = cli(s.state, "user", "add", "1001", "--generate")
    assert r.returncode == 0, r.stderr
    assert "1001@example.test" in cli(s.state, "user", "list").stdout
    assert cli(s.state, "user", "disable", "1001").returncode == 0
    assert cli(s.state, "reg", "list").returncode == 0
    assert s.alive() and s.options_ok()
