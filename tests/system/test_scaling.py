"""Several Bastion nodes on one PostgreSQL store (docs/scaling.md), with the
real parts: Debian's PostgreSQL started by the test (tests/tools/pgtmp.py:
initdb + pg_ctl in a temporary directory, loopback, a kernel-chosen port,
SCRAM passwords from a 0600 pgpass file, as the 'postgres' user when we are
root), two nodes on 127.0.0.1 and 127.0.0.2, phones on real sockets.

- the CLI: init --database, store migrate, store copy from an SQLite state,
  and the clear refusals (password in the URL, wrong password, unreachable
  server, newer schema);
- register on one node, call through the other; the call record of either
  node in one table (`cdr list` on the other);
- a user disabled and a ban added on one node take effect on the other;
- PostgreSQL stopped and restarted during a registration load: every
  acknowledged binding is in the database afterwards;
- one node killed: its phone re-registers on the other and stays callable;
- nonces across nodes: a live node's nonce gets stale=true elsewhere; once
  the node dies, another takes its nonce epoch over, accepts the phone's next
  nonce-count and still refuses the counts the dead node accepted.
Every wait is bounded by a deadline on a condition, never a fixed sleep.
"""
import os
import signal
import sys
import time
import uuid

import pytest

from conftest import (DOMAIN, Phone, Registrar, Server, digest_header, events, free_port,
                      header, hval, import_users, parse_challenges, parse_msg, run_cli,
                      sanitizer_report, status_of)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tools"))
import pgtmp  # noqa: E402

pytestmark = pytest.mark.skipif(not pgtmp.available(),
                                reason="PostgreSQL not installed (scripts/deps.sh)")

USERS = {"1001": "correct-horse-1001", "1002": "battery-staple-1002",
         "1003": "purple-monkey-1003"}


def have_addr(host):
    import socket
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((host, 0))
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def pg():
    with pgtmp.PgTmp() as p:
        yield p


@pytest.fixture
def db(pg):
    """A fresh database on the module's server: (url, env)."""
    name = "s" + uuid.uuid4().hex[:12]
    pg.createdb(name)
    return pg.url(name), {"PGPASSFILE": pg.pgpass}


def wait_for(cond, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"{what} not reached within {timeout}s")


@pytest.fixture
def nodes(tmp_path, db):
    """Factory: node(host) -> a started Server on the shared database."""
    url, env = db
    made = []

    def make(host="127.0.0.1", extra_conf=""):
        s = Server(tmp_path / f"node{len(made)}", free_port(), extra_conf, DOMAIN, False,
                   host=host, database=url, env=env)
        made.append(s)
        return s.start()

    yield make
    problems = []
    for s in made:
        if s.proc is None:
            continue
        killed = s.proc.poll() is not None and s.proc.returncode == -signal.SIGKILL
        code = s.stop()
        text = s.log_text()
        bad = sanitizer_report(text)
        if bad:
            problems.append(f"sanitizer report in {s.log_path}:\n" + "\n".join(bad[:20]))
        if code != 0 and not killed:
            problems.append(f"server exited with {code}:\n{text[-3000:]}")
    assert not problems, "\n".join(problems)


def cli(node, *args, **kw):
    return run_cli("--state", node.state, *args, env=node.env, **kw)


# ---- the command line ---------------------------------------------------------------------


def test_init_migrate_and_refusals(tmp_path, pg, db):
    url, env = db
    st = str(tmp_path / "a")
    r = run_cli("init", "--state", st, "--domain", DOMAIN, "--database", url, env=env)
    assert r.returncode == 0, r.stderr
    assert "schema (version" in r.stdout
    assert not os.path.exists(os.path.join(st, "bastion.db"))
    # a second node joins the same database
    r = run_cli("init", "--state", str(tmp_path / "b"), "--domain", DOMAIN, "--database", url,
                env=env)
    assert r.returncode == 0 and "joins it" in r.stdout, r.stdout + r.stderr
    r = run_cli("--state", st, "store", "migrate", env=env)
    assert r.returncode == 0 and "up to date" in r.stdout, r.stdout + r.stderr

    # the password never goes in the URL (nor, then, in bastion.conf)
    bad = url.replace("bastion@", "bastion:hunter2hunter2@")
    r = run_cli("init", "--state", str(tmp_path / "c"), "--database", bad, env=env)
    assert r.returncode == 1 and "password file" in r.stderr and "hunter2" not in r.stderr
    # a password file others can read
    loose = tmp_path / "loose.pgpass"
    loose.write_text("*:*:*:bastion:whatever\n")
    os.chmod(loose, 0o644)
    r = run_cli("store", "migrate", "--database", url, env={"PGPASSFILE": str(loose)})
    assert r.returncode == 1 and "chmod 600" in r.stderr, r.stderr
    # a wrong password
    os.chmod(loose, 0o600)
    r = run_cli("store", "migrate", "--database", url, env={"PGPASSFILE": str(loose)})
    assert r.returncode == 1 and "password authentication failed" in r.stderr, r.stderr
    # nobody there
    r = run_cli("store", "migrate", "--database", "postgresql://bastion@127.0.0.1:1/x", env=env)
    assert r.returncode == 1 and "PostgreSQL" in r.stderr, r.stderr
    # a schema from a newer build: refused, named, untouched
    pg.psql(url.rsplit("/", 1)[1], "UPDATE bastion_schema SET version = version + 1")
    r = run_cli("--state", st, "store", "migrate", env=env)
    assert r.returncode == 1 and "newer than this build" in r.stderr, r.stderr
    r = run_cli("--state", st, "user", "list", env=env)
    assert r.returncode == 1 and "newer than this build" in r.stderr


def test_tls_when_the_url_asks(tmp_path, pg, db):
    """sslmode in the URL is obeyed: verify-full against the server's CA
    connects (it cannot without TLS), against another CA it is refused with
    the reason; the session the server sees is encrypted."""
    import subprocess
    url, env = db
    good = f"{url}?sslmode=verify-full&sslrootcert={pg.ca}"
    r = run_cli("store", "migrate", "--database", good, env=env)
    assert r.returncode == 0, r.stderr
    other = tmp_path / "other-ca.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=other",
                    "-keyout", str(tmp_path / "other.key"), "-out", str(other)],
                   check=True, capture_output=True, timeout=60)
    r = run_cli("store", "migrate", "--database", f"{url}?sslmode=verify-full&sslrootcert={other}",
                env=env)
    assert r.returncode == 1 and "certificate" in r.stderr, r.stderr
    # a node on TLS: its backend's session is encrypted
    st = str(tmp_path / "n")
    assert run_cli("init", "--state", st, "--domain", DOMAIN, "--listen",
                   f"udp:127.0.0.1:{free_port()}", "--database", good,
                   env=env).returncode == 0
    s = Server.__new__(Server)
    s.state, s.env, s.log_path, s.host = st, env, os.path.join(st, "serve.log"), "127.0.0.1"
    s.start()
    try:
        out = pg.psql("postgres", "SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN "
                      "pg_stat_activity a USING (pid) WHERE a.application_name = 'bastion'")
        assert out == "t", out
    finally:
        assert s.stop() == 0


def test_store_copy_from_sqlite(tmp_path, pg, db, make_server):
    """An SQLite installation with users, an identity, a binding, a ban and a
    call record moves to PostgreSQL; the new node serves those users. A
    password rotation in its grace moves too: the new and the old password
    both work on the PostgreSQL node until the deadline."""
    url, env = db
    old = make_server()
    import_users(old, USERS, tmp_path)
    assert cli(old, "user", "identity", "add", "1001", "sip:sales@" + DOMAIN).returncode == 0
    assert cli(old, "ban", "add", "192.0.2.7", "1h").returncode == 0
    # what a user carries besides its passwords: calling class, civic location,
    # and a toll-fraud hold (set by the server after a burst; written here)
    assert cli(old, "user", "set", "1003", "--calling", "national").returncode == 0
    r = cli(old, "user", "set", "1003", "--location",
            "country=US;A1=NY;A3=New York;RD=Main Street;HNO=100")
    assert r.returncode == 0, r.stderr
    import sqlite3
    with sqlite3.connect(os.path.join(old.state, "bastion.db")) as con:
        con.execute("UPDATE users SET fraud_hold = 'burst: 9 calls in 60 s', "
                    "fraud_hold_at = 1700000000 WHERE name = '1003'")
    wait_for(lambda: old.log_text().count("users reloaded") >= 1, what="user reload")
    p = Phone(old, "1001", USERS["1001"])
    p.register()
    newpw = tmp_path / "new-passwords"
    r = cli(old, "rotate", "--passwords", "--out", str(newpw), "--deadline", "+1d")
    assert r.returncode == 0, r.stderr
    lines = dict(l.split(" ", 1) for l in newpw.read_text().splitlines()
                 if not l.startswith("#"))
    old.stop()
    r = run_cli("store", "copy", "--from", os.path.join(old.state, "bastion.db"), "--to", url,
                env=env)
    assert r.returncode == 0, r.stderr
    assert "3 users, 1 identities, 1 bindings, 1 bans, 0 call records" in r.stdout, r.stdout
    # never into a database that holds data
    r = run_cli("store", "copy", "--from", os.path.join(old.state, "bastion.db"), "--to", url,
                env=env)
    assert r.returncode == 1 and "empty" in r.stderr
    # the copy is what a node on PostgreSQL sees
    st = str(tmp_path / "new")
    assert run_cli("init", "--state", st, "--domain", DOMAIN, "--database", url,
                   env=env).returncode == 0
    out = run_cli("--state", st, "user", "list", env=env).stdout
    assert all(u in out for u in USERS), out
    out = run_cli("--state", st, "reg", "list", env=env).stdout
    assert f"127.0.0.1:{p.port}" in out, out
    out = run_cli("--state", st, "ban", "list", env=env).stdout
    assert "192.0.2.7" in out
    out = run_cli("--state", st, "user", "identity", "list", "1001", env=env).stdout
    assert "sip:sales@" + DOMAIN in out
    out = run_cli("--state", st, "user", "list", env=env).stdout
    assert out.count("old-password-until") == len(USERS), out
    out = run_cli("--state", st, "user", "show", "1003", env=env).stdout
    assert "national" in out and "burst: 9 calls in 60 s" in out and "Main Street" in out, out
    # a node on the copy takes both passwords of 1002 until the deadline
    node = Server(tmp_path / "node", free_port(), "", DOMAIN, False, database=url, env=env)
    node.start()
    try:
        from conftest import Registrar
        reg = Registrar(node, "1002", USERS["1002"])
        r = wait_for(lambda: (lambda x: x if (status_of(x) or (0,))[0] == 200 else None)(
            reg.register()), what="the old password accepted")
        assert "stops working" in " ".join(header(r, "Warning")), r
        r = reg.register(password=lines[f"1002@{DOMAIN}"].strip())
        assert status_of(r)[0] == 200 and not header(r, "Warning"), r
        reg.close()
    finally:
        node.stop()


# ---- two nodes, one service ----------------------------------------------------------------


needs_two = pytest.mark.skipif(not have_addr("127.0.0.2"), reason="no 127.0.0.2 on this host")


def invite_until_routed(caller, callee_phone, callee, timeout=20.0):
    """INVITE callee until the node routes it to callee_phone (rather than
    480/404 while it has not yet taken in the binding); the INVITE stays
    queued at callee_phone for answer()."""
    deadline = time.monotonic() + timeout
    while True:
        call_id, _, cseq = caller.invite(callee)
        while True:
            callee_phone._read(0.1)
            if any(parse_msg(q)[0].startswith("INVITE ") for q in callee_phone.queue):
                return call_id, cseq
            caller._read(0.1)
            final = [q for q in caller.queue
                     if parse_msg(q)[0].startswith(("SIP/2.0 480", "SIP/2.0 404"))]
            if final:
                caller.queue = [q for q in caller.queue if q not in final]
                break
            assert time.monotonic() < deadline, "the node never routed to the binding"
        assert time.monotonic() < deadline, "the node never routed to the binding"
        time.sleep(0.1)


def call_through(node, caller, callee_phone, callee):
    """caller calls `callee` through `node`; callee_phone answers; both hang up."""
    call_id, _, cseq = caller.invite(callee)
    inv, totag = callee_phone.answer()
    assert hval(inv, "Record-Route"), "the proxy stays on the path"
    _, ok, _ = caller.expect_status(200, "INVITE")
    caller.in_dialog("ACK", ok, call_id, cseq, totag, caller.tag)
    callee_phone.expect_request("ACK")
    caller.in_dialog("BYE", ok, call_id, cseq + 1, totag, caller.tag)
    _, bye, _ = callee_phone.expect_request("BYE")
    callee_phone.respond(bye, 200, "OK", totag)
    caller.expect_status(200, "BYE")
    return call_id


@needs_two
def test_register_on_a_call_through_b(tmp_path, nodes):
    a = nodes("127.0.0.1")
    b = nodes("127.0.0.2")
    import_users(a, USERS, tmp_path)
    for n in (a, b):
        wait_for(lambda: "users reloaded" in n.log_text(), what="user reload")
    callee = Phone(a, "1002", USERS["1002"])
    callee.register()
    # B learns of the binding by notification, without a restart
    wait_for(lambda: f"127.0.0.1:{callee.port}" in cli(b, "reg", "list", "1002").stdout,
             what="binding in the shared store")
    caller = Phone(b, "1001", USERS["1001"])
    caller.register()
    call_id, cseq = invite_until_routed(caller, callee, "1002")
    # The INVITE came from B: the phone answers B (RFC 3261 18.2.2, the Via),
    # not the node it registered with.
    callee.server = b
    # the phone on A got the INVITE from B
    inv, totag = callee.answer()
    _, ok, _ = caller.expect_status(200, "INVITE")
    caller.in_dialog("ACK", ok, call_id, cseq, totag, caller.tag)
    callee.expect_request("ACK")
    caller.in_dialog("BYE", ok, call_id, cseq + 1, totag, caller.tag)
    _, bye, _ = callee.expect_request("BYE")
    callee.respond(bye, 200, "OK", totag)
    caller.expect_status(200, "BYE")
    # B's record, listed by A: one table for all nodes
    out = wait_for(lambda: [x for x in cli(a, "cdr", "list").stdout.splitlines()
                            if call_id in x], what="call record")
    assert "status 200" in out[0] and "user 1001" in out[0]


def options_from(node, src_host, timeout=1.0):
    """An OPTIONS from src_host to node; the reply's status, or None."""
    import socket
    from conftest import fill, request
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((src_host, 0))
        s.settimeout(timeout)
        s.sendto(fill(request("OPTIONS"), s.getsockname()[1], src_host), (node.host, node.port))
        try:
            return status_of(s.recv(70000))
        except socket.timeout:
            return None


@needs_two
@pytest.mark.skipif(not have_addr("127.0.0.3"), reason="no 127.0.0.3 on this host")
def test_user_change_and_ban_reach_the_other_node(tmp_path, nodes):
    from conftest import Registrar
    a = nodes("127.0.0.1")
    b = nodes("127.0.0.2")
    import_users(a, USERS, tmp_path)
    wait_for(lambda: "users reloaded" in b.log_text(), what="user reload on B")
    r = Registrar(b, "1001", USERS["1001"])
    assert status_of(r.register())[0] == 200
    # disabled through A's command line: B refuses the user
    assert cli(a, "user", "disable", "1001").returncode == 0
    wait_for(lambda: status_of(r.register())[0] != 200, what="disabled user refused on B")
    assert cli(a, "user", "enable", "1001").returncode == 0
    wait_for(lambda: status_of(r.register())[0] == 200, what="enabled user accepted on B")
    # a ban through A reaches B; others are still served
    assert options_from(b, "127.0.0.3")[0] == 200
    assert cli(a, "ban", "add", "127.0.0.3", "1h").returncode == 0
    wait_for(lambda: options_from(b, "127.0.0.3", timeout=0.3) is None, what="ban on B")
    assert options_from(b, "127.0.0.1")[0] == 200
    assert cli(a, "ban", "del", "127.0.0.3").returncode == 0
    wait_for(lambda: options_from(b, "127.0.0.3", timeout=0.3) is not None, what="unban on B")


def stored_contacts(pg, url):
    out = pg.psql(url.rsplit("/", 1)[1], "SELECT contact FROM registrations")
    return set(out.split()) if out else set()


def test_database_restart_during_registrations(tmp_path, pg, db, nodes):
    """PostgreSQL stops and starts again while phones register: the node
    answers from its caches, queues the writes, reconnects by itself and
    writes them; every binding acknowledged with a 200 is in the database."""
    from conftest import Registrar
    url, _ = db
    a = nodes("127.0.0.1")
    users = {f"{2000 + i}": f"pass-word-{2000 + i}-xyz" for i in range(30)}
    import_users(a, users, tmp_path)
    wait_for(lambda: "users reloaded" in a.log_text(), what="user reload")
    phones = [Registrar(a, u, pw) for u, pw in users.items()]
    acked = set()

    def register_round(tag):
        for p in phones:
            contact = f"sip:{p.user}-{tag}@127.0.0.1:{p.port}"
            reply = p.register(contact=f"<{contact}>")
            if status_of(reply)[0] == 200:
                acked.add(contact)

    register_round("before")
    pg.stop()
    try:
        wait_for(lambda: events(a, "store.failure"), what="store.failure event")
        register_round("during")
        assert len(acked) == 2 * len(phones), "the node must answer from its caches"
    finally:
        pg.start()
    register_round("after")
    wait_for(lambda: events(a, "store.recovered"), timeout=60, what="store.recovered event")
    missing = wait_for(lambda: not (acked - stored_contacts(pg, url)) or None, timeout=30,
                       what="every acknowledged binding stored")
    assert missing
    assert "serving from caches" in a.log_text()


@needs_two
def test_node_killed_phone_moves_to_the_other(tmp_path, nodes):
    a = nodes("127.0.0.1")
    b = nodes("127.0.0.2")
    import_users(a, USERS, tmp_path)
    for n in (a, b):
        wait_for(lambda: "users reloaded" in n.log_text(), what="user reload")
    callee = Phone(a, "1002", USERS["1002"])
    callee.register()
    caller = Phone(b, "1001", USERS["1001"])
    caller.register()
    wait_for(lambda: f"127.0.0.1:{callee.port}" in cli(b, "reg", "list", "1002").stdout,
             what="binding in the shared store")
    a.proc.kill()
    a.proc.wait(timeout=10)
    # B still knows the phone's binding (from the shared store) and routes to it
    callee.server = b
    call_id, cseq = invite_until_routed(caller, callee, "1002")
    inv, totag = callee.answer()
    _, ok, _ = caller.expect_status(200, "INVITE")
    caller.in_dialog("ACK", ok, call_id, cseq, totag, caller.tag)
    callee.expect_request("ACK")
    caller.in_dialog("BYE", ok, call_id, cseq + 1, totag, caller.tag)
    _, bye, _ = callee.expect_request("BYE")
    callee.respond(bye, 200, "OK", totag)
    caller.expect_status(200, "BYE")
    # the phone fails over (its second SRV target) and re-registers on B
    callee.register()
    call_id, cseq = invite_until_routed(caller, callee, "1002")
    inv, totag = callee.answer()
    _, ok, _ = caller.expect_status(200, "INVITE")
    caller.in_dialog("ACK", ok, call_id, cseq, totag, caller.tag)
    callee.expect_request("ACK")
    out = cli(b, "reg", "list", "1002").stdout
    assert f"127.0.0.1:{callee.port}" in out


def test_queue_bound_answers_503(tmp_path, pg, db, nodes):
    """[store] write_queue_max hit: with the database away, REGISTERs are
    answered 200 while their writes fit in the queue, then 503 (never a 200
    that would not be kept); back, the acknowledged ones are all stored and
    REGISTERs are accepted again."""
    from conftest import Registrar
    url, _ = db
    a = nodes("127.0.0.1", extra_conf="[store]\nwrite_queue_max = 100")
    users = {f"{3000 + i}": f"pass-word-{3000 + i}-xyz" for i in range(40)}
    import_users(a, users, tmp_path)
    wait_for(lambda: "users reloaded" in a.log_text(), what="user reload")
    phones = [Registrar(a, u, pw) for u, pw in users.items()]
    acked, refused = set(), []
    pg.stop()
    try:
        wait_for(lambda: events(a, "store.failure"), what="store.failure event")
        for k in range(4):  # 160 bindings, each one write: beyond the bound of 100
            for p in phones:
                contact = f"sip:{p.user}-{k}@127.0.0.1:{p.port}"
                reply = p.register(contact=f"<{contact}>")
                code = status_of(reply)
                if code[0] == 200:
                    acked.add(contact)
                else:
                    assert code == (503, "Location Store Unavailable"), code
                    refused.append(contact)
    finally:
        pg.start()
    assert refused and 0 < len(acked) <= 100, (len(acked), len(refused))
    wait_for(lambda: events(a, "store.recovered"), timeout=60, what="store.recovered event")
    wait_for(lambda: not (acked - stored_contacts(pg, url)), timeout=30,
             what="every acknowledged binding stored")
    assert not set(refused) & stored_contacts(pg, url)
    assert status_of(phones[0].register(contact=f"<sip:{phones[0].user}-again@127.0.0.1:"
                                                f"{phones[0].port}>"))[0] == 200


# ---- durable queue, dialogs, digest and locks on PostgreSQL (wip-pg2) ------------------------


def test_node_killed_while_database_away_loses_nothing(tmp_path, pg, db, nodes):
    """The write queue is on disk (STATE/store-queue.journal): PostgreSQL
    stopped, REGISTERs acknowledged from the node's caches, the node killed
    with SIGKILL; a start while the database is still away is refused with
    the reason and leaves the queue alone; once the database is back the
    restarted node writes the queue of the dead run, and every binding
    acknowledged with a 200 is in the database, each once."""
    from conftest import Registrar
    from test_metrics import scrape, value
    url, _ = db
    mport = free_port()
    a = nodes("127.0.0.1", extra_conf=f"[metrics]\nlisten = 127.0.0.1:{mport}")
    users = {f"{4000 + i}": f"pass-word-{4000 + i}-xyz" for i in range(30)}
    import_users(a, users, tmp_path)
    wait_for(lambda: "users reloaded" in a.log_text(), what="user reload")
    phones = [Registrar(a, u, pw) for u, pw in users.items()]
    journal = os.path.join(a.state, "store-queue.journal")
    assert os.path.exists(journal) and os.stat(journal).st_mode & 0o777 == 0o600
    acked = set()
    pg.stop()
    try:
        wait_for(lambda: events(a, "store.failure"), what="store.failure event")
        for k in range(2):
            for p in phones:
                contact = f"sip:{p.user}-{k}@127.0.0.1:{p.port}"
                if status_of(p.register(contact=f"<{contact}>"))[0] == 200:
                    acked.add(contact)
        assert len(acked) == 2 * len(phones), "the node answers from its caches"
        m = scrape(mport)
        assert value(m, "bastion_store_connected") == 0
        assert value(m, "bastion_store_queued_on_disk") >= len(acked)
        assert value(m, "bastion_store_queued_writes") >= value(m, "bastion_store_queued_on_disk")
        a.proc.kill()
        a.proc.wait(timeout=10)
        assert os.path.getsize(journal) > 35, "the acknowledged writes are on disk"
        # a start while the database is away: a clear refusal, queue untouched
        size = os.path.getsize(journal)
        r = run_cli("--state", a.state, "serve", env=a.env, timeout=60)
        assert r.returncode != 0 and "postgresql" in r.stderr.lower(), r.stderr
        assert os.path.getsize(journal) == size
    finally:
        pg.start()
    a.start()
    a.wait_log("queued writes of the last run written")
    stored = stored_contacts(pg, url)
    assert not (acked - stored), sorted(acked - stored)[:5]
    rows = pg.psql(url.rsplit("/", 1)[1], "SELECT count(*), count(DISTINCT contact) FROM "
                   "registrations").split("|")
    assert rows[0] == rows[1]
    wait_for(lambda: os.path.getsize(journal) == 35, what="the journal emptied")
    m = scrape(mport)
    assert value(m, "bastion_store_connected") == 1
    assert value(m, "bastion_store_queued_on_disk") == 0


@needs_two
def test_lockout_reaches_the_other_node(tmp_path, nodes):
    """A user locked on A after too many wrong passwords is locked on B
    within a second: B refuses even the right password from a source B has
    never seen the user authenticate from."""
    from conftest import Registrar
    conf = "[guard]\nuser_fail_limit = 3\nsource_fail_limit = 1000"
    a = nodes("127.0.0.1", extra_conf=conf)
    b = nodes("127.0.0.2", extra_conf=conf)
    import_users(a, USERS, tmp_path)
    for n in (a, b):
        wait_for(lambda: "users reloaded" in n.log_text(), what="user reload")
    assert status_of(Registrar(b, "1002", USERS["1002"]).register())[0] == 200
    bad = Registrar(a, "1001", USERS["1001"])
    for _ in range(4):
        assert status_of(bad.register(password="wrong-password"))[0] == 403
    wait_for(lambda: events(a, "auth.lockout"), what="auth.lockout on A")
    b.wait_log("user 1001 locked", timeout=15)
    r = Registrar(b, "1001", USERS["1001"])
    assert status_of(r.register()) == (403, "Forbidden")
    assert [e for e in events(b, "auth.failure") if e.get("reason") == "user locked"]
    # other users are not touched
    assert status_of(Registrar(b, "1002", USERS["1002"]).register())[0] == 200


@needs_two
def test_digest_and_restart_keeps_a_call_on_postgresql(tmp_path, nodes, pg, db):
    """Per-user digest and confirmed dialogs live in PostgreSQL: `user set
    --digest md5` on A changes B's challenge; a call through A survives A's
    restart (its dialog row is A's: B, restarting too, does not take it in),
    the BYE after it ends both sides and the record gets its real end."""
    from conftest import Registrar, parse_challenges
    url, _ = db
    dbname = url.rsplit("/", 1)[1]
    a = nodes("127.0.0.1")
    b = nodes("127.0.0.2")
    import_users(a, USERS, tmp_path)
    for n in (a, b):
        wait_for(lambda: "users reloaded" in n.log_text(), what="user reload")
    r = cli(a, "user", "set", "1003", "--digest", "md5")
    assert r.returncode == 0 and "MD5 only" in r.stdout, r.stderr
    ph = Registrar(b, "1003", USERS["1003"])

    def offered():
        first = ph.send(ph.request())
        return [x for x, _ in parse_challenges(first)]
    wait_for(lambda: offered() == ["MD5"], what="B challenges 1003 with MD5 only")
    assert status_of(ph.register(algo="MD5"))[0] == 200

    caller = Phone(a, "1001", USERS["1001"])
    callee = Phone(a, "1002", USERS["1002"])
    caller.register()
    callee.register()
    call_id, cseq = invite_until_routed(caller, callee, "1002")
    inv, totag = callee.answer()
    _, ok, _ = caller.expect_status(200, "INVITE")
    caller.in_dialog("ACK", ok, call_id, cseq, totag, caller.tag)
    callee.expect_request("ACK")
    with open(os.path.join(a.state, "node-id")) as f:
        node_a = f.read().strip()
    q = f"SELECT node FROM dialogs WHERE call_id = '{call_id}'"
    wait_for(lambda: pg.psql(dbname, q) == node_a, what="the dialog row, A's")
    assert b.stop() == 0
    b.start()
    assert "calls in progress restored" not in b.log_text()
    assert a.stop() == 0
    a.start()
    a.wait_log("1 calls in progress restored")
    caller.in_dialog("BYE", ok, call_id, cseq + 1, totag, caller.tag)
    _, bye, _ = callee.expect_request("BYE")
    callee.respond(bye, 200, "OK", totag)
    caller.expect_status(200, "BYE")
    wait_for(lambda: pg.psql(dbname, q) == "", what="the dialog row deleted")
    out = wait_for(lambda: [x for x in cli(b, "cdr", "list").stdout.splitlines()
                            if call_id in x], what="call record")
    assert "status 200" in out[0] and "caller" in out[0], out


def test_nonce_of_a_dead_node_accepted_and_replays_refused(tmp_path, pg, db, nodes):
    """docs/scaling.md, Nonces across nodes."""
    from test_metrics import scrape, value
    url, _ = db
    mport = free_port()
    a = nodes("127.0.0.1")
    b = nodes("127.0.0.2", extra_conf=f"[metrics]\nlisten = 127.0.0.1:{mport}")
    import_users(a, USERS, tmp_path)
    for n in (a, b):
        wait_for(lambda: "users reloaded" in n.log_text(), what="user reload")
    m = scrape(mport)
    assert value(m, "bastion_nonce_epoch_leased") == 1
    assert value(m, "bastion_nonce_epochs_known") >= 1  # A's
    assert value(m, "bastion_nonce_epoch_takeovers_total") == 0
    r = Registrar(a, "1001", USERS["1001"])
    first = r.send(r.request())
    assert status_of(first)[0] == 401
    params = dict(parse_challenges(first))["SHA-256"]
    uri = f"sip:{DOMAIN}"

    def auth(nc):
        return digest_header("1001", USERS["1001"], params, "REGISTER", uri, "SHA-256", nc=nc)

    assert status_of(r.send(r.request(auth=auth(1))))[0] == 200
    # the count A accepted reaches the database with A's batch
    wait_for(lambda: pg.psql(url.rsplit("/", 1)[1], "SELECT max(nc) FROM nonce_uses") == "1",
             what="A's nonce-count in the database")
    # A alive: at B, A's nonce is genuine but its counts are A's: stale=true
    r.server = b
    reply = r.send(r.request(auth=auth(2)))
    assert status_of(reply)[0] == 401
    assert dict(parse_challenges(reply))["SHA-256"].get("stale") == "true"
    # A dies; B takes its epoch over once A's lease has lapsed
    a.proc.kill()
    a.proc.wait(timeout=10)
    wait_for(lambda: "taken over (its lease lapsed): 1 counts loaded" in b.log_text(),
             what="B takes A's nonce epoch over")
    # the request A accepted, replayed at B: refused
    reply = r.send(r.request(auth=auth(1)))
    assert status_of(reply)[0] == 401
    wait_for(lambda: events(b, "auth.replay"), what="auth.replay at B")
    # the phone's next count with A's nonce: accepted at B, once
    assert status_of(r.send(r.request(auth=auth(3))))[0] == 200
    assert status_of(r.send(r.request(auth=auth(3))))[0] == 401
    assert status_of(r.send(r.request(auth=auth(4))))[0] == 200
    m = scrape(mport)
    assert value(m, "bastion_nonce_epoch_takeovers_total") == 1
    assert value(m, "bastion_nonce_epochs_held") == 1
    r.close()
