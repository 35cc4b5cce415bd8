"""The authenticated registrar against the real binary: SIPp with 1,000 users
over UDP and TCP, and a digest client of our own for every refusal the issue
lists (wrong password, unknown user, hijack, replay, expired nonce), bindings
surviving a restart, CLI changes reaching the running server, and svwar."""
import os
import re
import subprocess
import time

import pytest

from conftest import (free_port, DOMAIN, Registrar, digest_header, events, ha1, header, import_users,
                      parse_challenges, run_cli, status_of)

SCENARIOS = os.path.join(os.path.dirname(__file__), "scenarios")
# SIPp 3.6 reads only the first challenge and knows only MD5, and puts the
# server's address in the digest uri: the SIPp tests configure for that.
# overload_delay = 0: a functional load test on a machine that may be busy
# with other work must not be shed with 503 (test_guard tests shedding).
SIPP_CONF = "[auth]\nalgorithms = MD5,SHA-256\nuri_check = relaxed\n[guard]\noverload_delay = 0"

USERS = {"1001": "correct-horse-1001", "1002": "battery-staple-1002"}


@pytest.fixture
def reg_server(make_server, tmp_path):
    s = make_server()
    import_users(s, USERS, tmp_path)
    wait_user_visible(s, "1001", USERS["1001"])
    return s


def wait_user_visible(server, user, password, timeout=5):
    """Registering works once the running server has reloaded its users."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ph = Registrar(server, user, password)
        st = status_of(ph.register(expires=0, contact="*"))
        ph.close()
        if st and st[0] == 200:
            return
        time.sleep(0.2)
    raise AssertionError(f"{user} never became able to register")


def test_register_sha256_and_md5(reg_server):
    ph = Registrar(reg_server, "1001", USERS["1001"])
    first = ph.send(ph.request())
    assert status_of(first) == (401, "Unauthorized")
    algos = [a for a, _ in parse_challenges(first)]
    assert algos == ["SHA-256", "MD5"]  # SHA-256 first by default
    for algo in ("SHA-256", "MD5"):
        reply = ph.register(algo=algo)
        assert status_of(reply)[0] == 200, reply
        contacts = header(reply, "Contact")
        assert len(contacts) == 1 and contacts[0].endswith(";expires=3600")
    ev = events(reg_server, "register.ok")
    assert ev and ev[0]["user"] == "1001" and ev[0]["aor"] == f"sip:1001@{DOMAIN}"


def test_wrong_password_refused_and_logged(reg_server):
    ph = Registrar(reg_server, "1001", USERS["1001"])
    reply = ph.register(password="not-the-password")
    assert status_of(reply) == (403, "Forbidden")
    ev = events(reg_server, "auth.failure")
    assert ev and ev[-1]["user"] == "1001" and ev[-1]["src"] == "127.0.0.1"


def test_unknown_user_indistinguishable(reg_server):
    known = Registrar(reg_server, "1001", "wrong-password-x")
    unknown = Registrar(reg_server, "9999", "whatever-password")
    a, b = known.send(known.request()), unknown.send(unknown.request())

    def shape(reply):  # everything but per-request values
        text = reply.decode()
        text = re.sub(r'nonce="[^"]+"', 'nonce=""', text)
        text = re.sub(r"(tag|branch|rport)=[^;\r\n>]+", r"\1=", text)
        text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:P", text)
        text = re.sub(r"Call-ID: .*", "Call-ID:", text)
        text = re.sub(r"sip:\d+@", "sip:X@", text)
        return text

    assert shape(a) == shape(b)
    fa, fb = known.register(), unknown.register()
    assert status_of(fa) == status_of(fb) == (403, "Forbidden")
    assert shape(fa) == shape(fb)
    assert events(reg_server, "register.unknown_user")[-1]["user"] == "9999"


def test_hijack_refused_and_logged(reg_server):
    # 1001's valid credentials, registering 1002's address of record
    ph = Registrar(reg_server, "1001", USERS["1001"], to_user="1002")
    reply = ph.register()
    assert status_of(reply) == (403, "Forbidden")
    ev = events(reg_server, "register.hijack")
    assert ev and ev[-1]["user"] == "1001" and "1002" in ev[-1]["aor"]
    # Bindings are written behind: register 1001 properly afterwards and wait
    # until the CLI sees it; whatever the hijack had written would be in the
    # store by then (one queue, written in order).
    ok = Registrar(reg_server, "1001", USERS["1001"])
    assert status_of(ok.register())[0] == 200
    deadline = time.monotonic() + 15
    while True:
        r = run_cli("--state", reg_server.state, "reg", "list")
        assert r.returncode == 0, r.stderr
        if f"127.0.0.1:{ok.port}" in r.stdout or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert f"127.0.0.1:{ok.port}" in r.stdout, r.stdout
    assert f"127.0.0.1:{ph.port}" not in r.stdout, r.stdout   # no binding from the hijack
    r = run_cli("--state", reg_server.state, "reg", "list", "1002")
    assert r.returncode == 0, r.stderr
    assert f"127.0.0.1:{ph.port}" not in r.stdout and "sip:1002@" not in r.stdout, r.stdout


def test_replayed_authorization_refused(reg_server):
    ph = Registrar(reg_server, "1001", USERS["1001"])
    assert status_of(ph.register())[0] == 200
    # the same credentials again (same nonce, same nc), in a new request
    replay = ph.send(ph.request(auth=ph.last_auth))
    assert status_of(replay)[0] == 401
    assert events(reg_server, "auth.replay")


def test_retransmitted_register_is_challenged_again(reg_server):
    """REGISTER has no transaction (docs/registrar.md): the same authenticated
    REGISTER again, byte for byte, meets the nonce-count check and gets a
    fresh challenge, never a second 200 or a second binding."""
    ph = Registrar(reg_server, "1001", USERS["1001"])
    params = dict(parse_challenges(ph.send(ph.request())))["SHA-256"]
    auth = digest_header("1001", USERS["1001"], params, "REGISTER", f"sip:{DOMAIN}", "SHA-256")
    req = ph.request(auth=auth)
    assert status_of(ph.send(req))[0] == 200
    reply = ph.send(req)  # a retransmission: the very same bytes, same branch
    assert status_of(reply)[0] == 401
    assert events(reg_server, "auth.replay")
    deadline = time.monotonic() + 3  # bindings reach the database within a tick
    while True:
        out = run_cli("--state", reg_server.state, "reg", "list", "1001").stdout
        n = len([line for line in out.splitlines() if " contact " in line])
        if n or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert n == 1


def test_expired_nonce_is_stale(make_server, tmp_path):
    s = make_server("[auth]\nnonce_lifetime = 10")
    import_users(s, USERS, tmp_path)
    wait_user_visible(s, "1001", USERS["1001"])
    ph = Registrar(s, "1001", USERS["1001"])
    first = ph.send(ph.request())
    params = dict(parse_challenges(first))["SHA-256"]
    time.sleep(11.5)
    auth = digest_header("1001", USERS["1001"], params, "REGISTER", f"sip:{DOMAIN}", "SHA-256")
    reply = ph.send(ph.request(auth=auth))
    assert status_of(reply)[0] == 401
    assert all(p.get("stale") == "true" for _, p in parse_challenges(reply))


def test_nonce_window_limit(make_server, tmp_path):
    """[auth] nonce_window at its minimum (1024): a nonce is accepted on its
    first answer however many challenges were sent and answered since, while
    fewer than 1024 newer nonces were issued; one answered after more gets
    stale=true and a fresh challenge (never an accept), the fresh one works,
    and a replay inside the window is still refused (not stale)."""
    s = make_server("[auth]\nnonce_window = 1024\n[guard]\nallow = 127.0.0.1")
    import_users(s, USERS, tmp_path)
    wait_user_visible(s, "1001", USERS["1001"])
    ph, noise = Registrar(s, "1001", USERS["1001"]), Registrar(s, "1002", USERS["1002"])

    def challenges(n):
        for _ in range(n):
            assert status_of(noise.send(noise.request()))[0] == 401

    def answer(params):
        auth = digest_header("1001", USERS["1001"], params, "REGISTER", f"sip:{DOMAIN}", "SHA-256")
        return auth, ph.send(ph.request(auth=auth))

    old = dict(parse_challenges(ph.send(ph.request())))["SHA-256"]
    challenges(900)
    kept = dict(parse_challenges(ph.send(ph.request())))["SHA-256"]
    auth, reply = answer(kept)
    assert status_of(reply)[0] == 200
    challenges(200)        # `old` now has 1,101 newer nonces: out of the window
    _, reply = answer(old)
    assert status_of(reply)[0] == 401
    chal = parse_challenges(reply)
    assert chal and all(p.get("stale") == "true" for _, p in chal)
    _, reply = answer(dict(chal)["SHA-256"])
    assert status_of(reply)[0] == 200
    # `kept` (201 newer nonces) is still known: its count cannot be replayed
    reply = ph.send(ph.request(auth=auth))
    assert status_of(reply)[0] == 401
    assert all("stale" not in p for _, p in parse_challenges(reply))
    deadline = time.monotonic() + 10
    while not events(s, "auth.replay") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert events(s, "auth.replay")
    # the replay table's counts, in the log at the stop
    assert s.stop() == 0
    m = re.search(r"nonces: (\d+) issued, (\d+) replays refused, (\d+) forgotten \(stale\): "
                  r"(\d+) out of the window, (\d+) evicted", s.log_text())
    assert m, s.log_text()[-2000:]
    assert int(m.group(1)) >= 1103 and m.group(2, 3, 4, 5) == ("1", "1", "1", "0")


def test_tampered_nonce_rechallenged(reg_server):
    ph = Registrar(reg_server, "1001", USERS["1001"])
    params = dict(parse_challenges(ph.send(ph.request())))["SHA-256"]
    params = dict(params, nonce=params["nonce"][:-2] + ("AA" if params["nonce"][-2:] != "AA" else "BB"))
    auth = digest_header("1001", USERS["1001"], params, "REGISTER", f"sip:{DOMAIN}", "SHA-256")
    reply = ph.send(ph.request(auth=auth))
    assert status_of(reply)[0] == 401
    assert all("stale" not in p for _, p in parse_challenges(reply))


def test_binding_rules(reg_server):
    ph = Registrar(reg_server, "1001", USERS["1001"])
    too_short = ph.register(expires=5)
    assert status_of(too_short)[0] == 423 and header(too_short, "Min-Expires") == ["60"]
    long = ph.register(expires=999999)
    assert header(long, "Contact")[0].endswith(";expires=3600")  # max_expires
    two = ph.register(contact=f"<sip:1001@127.0.0.1:{ph.port}>, <sip:1001@192.0.2.7:5060>")
    assert len(header(two, "Contact")) == 2
    bad_star = ph.register(contact="*", expires=60)
    assert status_of(bad_star)[0] == 400
    gone = ph.register(contact="*", expires=0)
    assert status_of(gone)[0] == 200 and header(gone, "Contact") == []


def test_contact_cap(make_server, tmp_path):
    s = make_server("[registrar]\nmax_contacts = 2")
    import_users(s, USERS, tmp_path)
    wait_user_visible(s, "1001", USERS["1001"])
    ph = Registrar(s, "1001", USERS["1001"])
    ok = ph.register(contact="<sip:1001@192.0.2.1>, <sip:1001@192.0.2.2>")
    assert status_of(ok)[0] == 200
    over = ph.register(contact="<sip:1001@192.0.2.3>")
    assert status_of(over) == (403, "Too Many Contacts")


def test_out_of_order_cseq(reg_server):
    ph = Registrar(reg_server, "1001", USERS["1001"])
    ph.cseq = 100
    assert status_of(ph.register())[0] == 200
    ph.cseq = 50  # same Call-ID, lower CSeq
    assert status_of(ph.register())[0] == 500


def test_restart_keeps_bindings(make_server, tmp_path):
    s = make_server()
    import_users(s, USERS, tmp_path)
    wait_user_visible(s, "1001", USERS["1001"])
    ph = Registrar(s, "1001", USERS["1001"])
    assert status_of(ph.register(contact="<sip:1001@192.0.2.10:5060>"))[0] == 200
    old_params = dict(parse_challenges(ph.send(ph.request())))["SHA-256"]
    assert s.stop() == 0
    s.start()
    # a nonce from before the restart is not accepted (its nonce-counts are unknown)
    auth = digest_header("1001", USERS["1001"], old_params, "REGISTER", f"sip:{DOMAIN}", "SHA-256")
    assert status_of(ph.send(ph.request(auth=auth)))[0] == 401
    s.wait_log("1 registrations restored")
    # a new registration's 200 lists the restored binding too
    other = ph.register(contact="<sip:1001@192.0.2.11:5060>")
    contacts = header(other, "Contact")
    assert any("192.0.2.10" in c for c in contacts) and len(contacts) == 2


def test_cli_changes_reach_running_server(reg_server):
    # a user added while the server runs can register within a second or so
    r = run_cli("--state", reg_server.state, "user", "add", "1003", "--password-stdin",
                input="a-long-enough-password-x\n")
    assert r.returncode == 0, r.stderr
    wait_user_visible(reg_server, "1003", "a-long-enough-password-x", timeout=3)
    # disabled: refused like a wrong password
    assert run_cli("--state", reg_server.state, "user", "disable", "1003").returncode == 0
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        st = status_of(Registrar(reg_server, "1003", "a-long-enough-password-x").register())
        if st[0] == 403:
            break
        time.sleep(0.2)
    assert st == (403, "Forbidden")


def test_no_secret_in_any_log(reg_server):
    ph = Registrar(reg_server, "1001", USERS["1001"])
    assert status_of(ph.register())[0] == 200
    Registrar(reg_server, "1001", "a-wrong-password").register()
    Registrar(reg_server, "1002", USERS["1001"], to_user="1001").register()
    response = re.search(r'response="([0-9a-f]+)"', ph.last_auth).group(1)
    key = open(os.path.join(reg_server.state, "nonce.key"), "rb").read()
    secrets = [USERS["1001"], USERS["1002"], "a-wrong-password", response,
               ha1("1001", USERS["1001"]), ha1("1001", USERS["1001"], algo="SHA-256"),
               key.hex()]
    texts = [reg_server.log_text(), open(os.path.join(reg_server.state, "security.log")).read()]
    for text in texts:
        for secret in secrets:
            assert secret not in text


@pytest.mark.parametrize("transport", ["u1", "t1"])
def test_sipp_1000_users(make_server, tmp_path, transport):
    s = make_server(SIPP_CONF)
    users = {str(10000 + i): f"pw-{i:05d}-long-enough" for i in range(1000)}
    import_users(s, users, tmp_path)
    wait_user_visible(s, "10000", users["10000"])
    inf = tmp_path / "sipp-users.csv"
    with open(inf, "w") as f:
        f.write("SEQUENTIAL\n")
        for u, pw in users.items():
            f.write(f"{u};{pw}\n")
    r = subprocess.run(["sipp", "-sf", os.path.join(SCENARIOS, "register_auth.xml"),
                        "-inf", str(inf), "-m", "1000", "-r", "250", "-l", "200",
                        "-p", str(free_port()),
                        "-t", transport, "-nostdin", "-timeout", "60s", "-timeout_error",
                        "-trace_err", "-error_file", str(tmp_path / "err.log"),
                        f"127.0.0.1:{s.port}"],
                       capture_output=True, text=True, timeout=120, cwd=tmp_path)
    err = open(tmp_path / "err.log").read() if os.path.exists(tmp_path / "err.log") else ""
    assert r.returncode == 0, r.stdout[-1500:] + err[-1500:]
    # bindings reach the database within a tick (written behind, in batches)
    deadline = time.monotonic() + 3
    while True:
        out = run_cli("--state", s.state, "reg", "list").stdout
        n = sum(1 for line in out.splitlines() if "sip:1" in line and "@" in line)
        if n >= 1000 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert n >= 1000


@pytest.mark.parametrize("force", [False, True])
def test_svwar_cannot_enumerate(reg_server, tmp_path, force):
    """SIPVicious svwar, over a range holding the real 1001 and 1002: the
    server answers a made-up extension exactly as a real one, so svwar finds
    nothing (unforced it gives up at its sanity check; forced it still cannot
    tell them apart)."""
    args = ["svwar", "-e1000-1010", "-m", "REGISTER", "-p", str(reg_server.port),
            "-t", "0.05", "--maximumtime=20", "127.0.0.1"]
    if force:
        args.insert(1, "--force")
    r = subprocess.run(args, capture_output=True, text=True, timeout=90, cwd=tmp_path)
    out = r.stdout + r.stderr
    assert "found nothing" in out, out
    assert "1001" not in out and "1002" not in out, out
    reg_server.stop()
    received = int(re.search(r"stopped: (\d+) messages received", reg_server.log_text()).group(1))
    assert received >= 1  # svwar did talk to the server


def wait_offer(server, user, algos, timeout=10):
    """The first challenge for `user` once the server has the user's setting."""
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        ph = Registrar(server, user, "x")
        got = [a for a, _ in parse_challenges(ph.send(ph.request()))]
        ph.close()
        if got == algos:
            return got
        time.sleep(0.1)
    raise AssertionError(f"{user}: offered {got}, expected {algos}")


def test_digest_per_user(reg_server):
    """user set --digest: md5 and sha256 users get their own challenge; a
    user at the site's default gets exactly what an unknown name gets (the
    answer does not tell them apart); credentials in an algorithm not
    offered are challenged again; MD5 users register with MD5."""
    s = reg_server
    unknown = wait_offer(s, "no-such-user", ["SHA-256", "MD5"])
    assert wait_offer(s, "1002", ["SHA-256", "MD5"]) == unknown
    r = run_cli("--state", s.state, "user", "set", "1001", "--digest", "md5")
    assert r.returncode == 0 and "MD5 only" in r.stdout, r.stderr
    assert "told apart" in r.stderr  # the trade-off is said
    wait_offer(s, "1001", ["MD5"])
    ph = Registrar(s, "1001", USERS["1001"])
    assert status_of(ph.register(algo="MD5"))[0] == 200
    # SHA-256 credentials from an md5 user: a fresh MD5-only challenge
    first = ph.send(ph.request())
    chal = dict(parse_challenges(first))
    sha = dict(chal["MD5"], algorithm="SHA-256")
    auth = digest_header("1001", USERS["1001"], sha, "REGISTER", f"sip:{DOMAIN}", "SHA-256")
    again = ph.send(ph.request(auth=auth))
    assert status_of(again)[0] == 401 and [a for a, _ in parse_challenges(again)] == ["MD5"]
    # the INVITE side uses the same setting (From user): covered by test_phones
    r = run_cli("--state", s.state, "user", "set", "1001", "--digest", "sha256")
    assert r.returncode == 0
    wait_offer(s, "1001", ["SHA-256"])
    r = run_cli("--state", s.state, "user", "set", "1001", "--digest", "site")
    assert r.returncode == 0 and "told apart" not in r.stderr
    wait_offer(s, "1001", ["SHA-256", "MD5"])
    r = run_cli("--state", s.state, "user", "set", "1001", "--digest", "sha1")
    assert r.returncode != 0 and "sha256, md5, both or site" in r.stderr
    r = run_cli("--state", s.state, "user", "set", "nobody", "--digest", "md5")
    assert r.returncode != 0


def test_sha256_unanswered_event(make_server, tmp_path):
    """A known user's device that never answers SHA-256 challenges is named
    once, after [auth] sha256_unanswered of them; an unknown name never."""
    s = make_server("[auth]\nsha256_unanswered = 2")
    import_users(s, USERS, tmp_path)
    wait_user_visible(s, "1001", USERS["1001"])
    for user in ("1002", "1002", "1002", "ghost", "ghost", "ghost"):
        ph = Registrar(s, user, "x")
        assert status_of(ph.send(ph.request()))[0] == 401
        ph.close()
    ev = events(s, "auth.sha256_unanswered")
    assert [e["user"] for e in ev] == ["1002"], ev
    # a phone that answers (SHA-256) is never named; one that answers with MD5
    # although SHA-256 was offered is, once
    ph = Registrar(s, "1001", USERS["1001"])
    for _ in range(3):
        assert status_of(ph.register(algo="SHA-256"))[0] == 200
    assert status_of(ph.register(algo="MD5"))[0] == 200
    assert status_of(ph.register(algo="MD5"))[0] == 200
    assert [e["user"] for e in events(s, "auth.md5_answer")] == ["1001"]
    assert [e["user"] for e in events(s, "auth.sha256_unanswered")] == ["1002"]


def test_unregister_one_of_two_is_logged_as_unregistered(reg_server):
    ph = Registrar(reg_server, "1001", USERS["1001"])
    c1, c2 = f"<sip:1001@127.0.0.1:{ph.port}>", "<sip:1001@127.0.0.1:9>"
    assert status_of(ph.register(contact=c1))[0] == 200
    assert status_of(ph.register(contact=c2))[0] == 200
    reply = ph.register(contact=c2, expires=0)
    assert status_of(reply)[0] == 200 and len(header(reply, "Contact")) == 1
    reasons = [e["reason"] for e in events(reg_server, "register.ok") if e["user"] == "1001"]
    assert reasons[-3:] == ["registered", "registered", "unregistered"], reasons


def test_bare_cookie_branch_is_no_transaction_key(server):
    """RFC 4475 3.2.1: a branch that is only z9hG4bK identifies nothing. Two
    different requests with that branch and the same sent-by are two
    transactions (RFC 2543 matching): each gets its own answer."""
    import socket
    import uuid
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sk:
        sk.bind(("127.0.0.1", 0))
        sk.settimeout(3)
        port = sk.getsockname()[1]
        for n in range(2):
            msg = (f"OPTIONS sip:ping@{DOMAIN} SIP/2.0\r\n"
                   f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK\r\n"
                   "Max-Forwards: 70\r\n"
                   f"From: <sip:t@{DOMAIN}>;tag=bare{n}\r\n"
                   f"To: <sip:ping@{DOMAIN}>\r\n"
                   f"Call-ID: {uuid.uuid4().hex}\r\n"
                   f"CSeq: {n + 1} OPTIONS\r\n"
                   "Content-Length: 0\r\n\r\n").encode()
            sk.sendto(msg, ("127.0.0.1", server.port))
            reply = sk.recv(70000)
            assert status_of(reply)[0] == 200
            assert f"tag=bare{n}" in header(reply, "From")[0]
            assert header(reply, "CSeq")[0] == f"{n + 1} OPTIONS"


def test_max_users_bounds_the_credential_cache(make_server, tmp_path):
    """[auth] max_users: a store with more users than the credential cache
    may hold is refused at startup with an error naming the setting; a
    refresh that would pass it keeps the users already loaded serving."""
    three = dict(USERS, **{"1003": "purple-monkey-1003"})
    s = make_server("[auth]\nmax_users = 2", start=False)
    import_users(s, three, tmp_path, name="three.csv")
    r = run_cli("--state", s.state, "serve", timeout=30)
    assert r.returncode != 0
    assert "max_users (2)" in r.stderr, r.stderr

    s2 = make_server("[auth]\nmax_users = 2")
    import_users(s2, USERS, tmp_path)
    wait_user_visible(s2, "1001", USERS["1001"])
    # this reload is refused, so there is no reload to wait for: the log says
    import_users(s2, {"1003": three["1003"]}, tmp_path, name="one.csv", wait=False)
    s2.wait_log("user cache refresh refused", timeout=15)
    assert status_of(Registrar(s2, "1002", USERS["1002"]).register())[0] == 200
