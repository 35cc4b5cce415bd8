"""Crash tests: nothing acknowledged is lost when the server is killed.

A scripted registration load (phones over UDP and over TCP, each answering
its 401 with SHA-256 digest, then moving on to the next user) runs while
the server is killed with SIGKILL at a random moment, 20 times in a row.
After each kill:
- the database passes PRAGMA integrity_check;
- every binding whose 200 OK a phone received is in the store, with at
  least the CSeq of that REGISTER (group commit: the 200 goes out only once
  the batch holding the change is committed);
- the security log and the store agree: every stored binding, and so every
  acknowledged one, has its register.ok event (recorded just before the
  commit), and an event without its binding can only come from the batch
  being committed at the kill;
- the restarted server restores them all.
The same with SIPp as the phones (UDP and TCP rounds; the 200s counted are
those in SIPp's message log). The same for a ban added with `bastion ban
add` just before a kill, and for a call whose BYE was answered just before a
kill: its record is stored.

Every wait is on a condition (a count of 200s received, a log line) with a
generous deadline; the kill moment is random (a random number of 200s
after the start), so the kill lands anywhere in the batch cycle.
"""
import collections
import hashlib
import json
import os
import random
import re
import selectors
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import uuid

import pytest

from conftest import DOMAIN, Phone, cdrs, hval, import_users, run_cli

KILLS = int(os.environ.get("BASTION_CRASH_KILLS", "20"))
USERS = 3000
PHONES_UDP = 12
PHONES_TCP = 12


def pw(i):
    return f"crash-test-password-{i:05d}"


def uname(i):
    return f"u{i:05d}"


def digest(user, password, params, uri, nc=1):
    h = hashlib.sha256
    a1 = h(f"{user}:{params['realm']}:{password}".encode()).hexdigest()
    a2 = h(f"REGISTER:{uri}".encode()).hexdigest()
    cnonce = uuid.uuid4().hex[:8]
    ncs = f"{nc:08x}"
    resp = h(f"{a1}:{params['nonce']}:{ncs}:{cnonce}:auth:{a2}".encode()).hexdigest()
    return (f'Authorization: Digest username="{user}", realm="{params["realm"]}", '
            f'nonce="{params["nonce"]}", uri="{uri}", response="{resp}", '
            f'algorithm=SHA-256, cnonce="{cnonce}", qop=auth, nc={ncs}')


def challenges(head):
    out = {}
    for line in head.split("\r\n"):
        if line.lower().startswith("www-authenticate:"):
            v = line.split(":", 1)[1].strip()[7:]
            params = dict((k, a or b) for k, a, b in
                          re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]+))', v))
            out[params.get("algorithm", "MD5")] = params
    return out


class LoadPhone:
    """One phone of the load: registers user after user over one transport."""

    def __init__(self, load, tp):
        self.load, self.tp = load, tp
        self.sock = None
        self.buf = b""
        self.user = None
        self.state = "idle"
        self.deadline = 0.0
        self.call_id = None
        self.cseq = 0
        self.port = 0
        self.down_until = 0.0

    def contact(self):
        t = ";transport=tcp" if self.tp == "tcp" else ""
        return f"sip:{self.user}@127.0.0.1:{self.port}{t}"

    def connect(self, sel):
        if self.tp == "udp":
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind(("127.0.0.1", 0))
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(1.0)
            try:
                s.connect(("127.0.0.1", self.load.port))
            except OSError:
                s.close()
                self.down_until = time.monotonic() + 0.05
                return False
            self.sock = s
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.buf = b""
        sel.register(self.sock, selectors.EVENT_READ, self)
        return True

    def drop(self, sel):
        if self.sock is not None:
            try:
                sel.unregister(self.sock)
            except (KeyError, ValueError):
                pass
            self.sock.close()
        self.sock = None
        self.state = "idle"

    def send(self, data):
        try:
            if self.tp == "udp":
                self.sock.sendto(data, ("127.0.0.1", self.load.port))
            else:
                self.sock.sendall(data)
            return True
        except OSError:
            return False

    def request(self, auth=None):
        self.cseq += 1
        lines = [f"REGISTER sip:{DOMAIN} SIP/2.0",
                 f"Via: SIP/2.0/{self.tp.upper()} 127.0.0.1:{self.port};"
                 f"branch=z9hG4bK{uuid.uuid4().hex};rport",
                 "Max-Forwards: 70",
                 f"From: <sip:{self.user}@{DOMAIN}>;tag={self.call_id[:8]}",
                 f"To: <sip:{self.user}@{DOMAIN}>",
                 f"Call-ID: {self.call_id}", f"CSeq: {self.cseq} REGISTER",
                 f"Contact: <{self.contact()}>", "Expires: 3600"]
        if auth:
            lines.append(auth)
        lines += ["User-Agent: bastion-crash-test", "Content-Length: 0"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def start(self, now):
        if self.user is None:
            self.user = self.load.next_user()
            if self.user is None:
                return
            self.call_id = uuid.uuid4().hex
            self.cseq = 0
        if self.send(self.request()):
            self.state = "challenge"
            self.deadline = now + 3.0

    def on_message(self, data, now):
        head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
        m = re.match(r"SIP/2.0 (\d{3}) ", head)
        cs = re.search(r"(?im)^cseq:\s*(\d+)", head)
        if not m or not cs or int(cs.group(1)) != self.cseq:
            return  # a late answer to an attempt given up
        code = int(m.group(1))
        if self.state == "challenge" and code == 401:
            chal = challenges(head).get("SHA-256")
            if not chal:
                self.state = "idle"
                return
            idx = int(self.user[1:])
            auth = digest(self.user, pw(idx), chal, f"sip:{DOMAIN}")
            if self.send(self.request(auth)):
                self.state = "auth"
                self.deadline = now + 3.0
        elif self.state == "auth" and code == 200:
            self.load.acked(self.user, self.contact(), self.cseq, self.tp)
            self.user = None  # the next user
            self.state = "idle"
        else:
            self.state = "idle"  # retry this user

    def on_readable(self, sel, now):
        try:
            data = self.sock.recv(70000)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.drop(sel)
            return
        if self.tp == "udp":
            self.on_message(data, now)
            return
        if not data:
            self.drop(sel)  # the server died: reconnect later
            return
        self.buf += data
        while b"\r\n\r\n" in self.buf:
            head, _, rest = self.buf.partition(b"\r\n\r\n")
            mm = re.search(rb"(?im)^(?:content-length|l)\s*:\s*(\d+)", head)
            n = int(mm.group(1)) if mm else 0
            if len(rest) < n:
                break
            self.buf = rest[n:]
            self.on_message(head + b"\r\n\r\n" + rest[:n], now)


class RegLoad:
    """The load, in a thread: PHONES_UDP + PHONES_TCP phones registering
    users one after the other; counts the 200 OKs received, per binding."""

    def __init__(self, port):
        self.port = port
        self.lock = threading.Lock()
        self.users = collections.deque(uname(i) for i in range(USERS))
        self.acks = {}          # (aor, contact) -> highest acknowledged CSeq
        self.n_acked = 0
        self.by_tp = collections.Counter()
        self.stop = threading.Event()
        self.running = threading.Event()  # cleared: phones stay idle
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.phones = ([LoadPhone(self, "udp") for _ in range(PHONES_UDP)] +
                       [LoadPhone(self, "tcp") for _ in range(PHONES_TCP)])
        self.error = None

    def next_user(self):
        with self.lock:
            return self.users.popleft() if self.users else None

    def acked(self, user, contact, cseq, tp):
        with self.lock:
            key = (f"sip:{user}@{DOMAIN}", contact)
            self.acks[key] = max(cseq, self.acks.get(key, 0))
            self.n_acked += 1
            self.by_tp[tp] += 1

    def count(self):
        with self.lock:
            return self.n_acked

    def snapshot(self):
        with self.lock:
            return dict(self.acks)

    def run(self):
        sel = selectors.DefaultSelector()
        try:
            deadline = time.monotonic() + 1800  # bounded, whatever happens
            while not self.stop.is_set() and time.monotonic() < deadline:
                now = time.monotonic()
                if not self.running.is_set():
                    for p in self.phones:
                        p.state = "idle"  # what was in flight is given up
                else:
                    for p in self.phones:
                        if p.sock is None:
                            if now >= p.down_until:
                                p.connect(sel)
                            continue
                        if p.state == "idle" or now > p.deadline:
                            p.state = "idle"
                            p.start(now)
                for key, _ in sel.select(timeout=0.02):
                    key.data.on_readable(sel, time.monotonic())
        except Exception as e:  # reported by the test
            self.error = e
        finally:
            for p in self.phones:
                p.drop(sel)
            sel.close()

    def pause(self):
        """Stop sending (the server is dead); what was in flight is given up."""
        self.running.clear()


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.01)
    raise AssertionError(f"not within {timeout}s: {what}")


def kill9(server):
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(timeout=30)
    server.log.close()
    server.proc = None


def check_db(path):
    """integrity_check, then {(aor, contact): cseq} of the stored bindings.
    Read-only: the file is opened with mode=ro, so nothing is checkpointed."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        (res,) = db.execute("PRAGMA integrity_check").fetchone()
        assert res == "ok", f"integrity_check after a kill: {res}"
        rows = db.execute("SELECT aor, contact, cseq FROM registrations").fetchall()
        bans = {r[0] for r in db.execute("SELECT addr FROM bans").fetchall()}
        n_cdr = {r[0] for r in db.execute("SELECT call_id FROM cdrs").fetchall()}
    finally:
        db.close()
    return {(a, c): q for a, c, q in rows}, bans, n_cdr


def registered_events(server):
    path = os.path.join(server.state, "security.log")
    aors = set()
    with open(path) as f:
        for line in f:
            if line.strip():
                e = json.loads(line)
                if e["kind"] == "register.ok":
                    aors.add(e.get("aor"))
    return aors


def restart(server):
    server.start()
    server.wait_log("registrations restored")


@pytest.fixture
def crash_server(make_server, tmp_path):
    s = make_server(start=False)
    # The load's 24 phones share 127.0.0.1, and every restart starts the
    # guard afresh: its per-source budgets (made for one phone, not 24)
    # would drop the first burst of each run, TCP's more than UDP's (its
    # messages are read after the UDP socket's in a round), and TCP could go
    # a whole run unacknowledged. This test is about durability: no budgets.
    s.set_conf("guard", "rate", "0")
    s.set_conf("guard", "register_rate", "0")
    if os.environ.get("BASTION_CRASH_DURABILITY"):
        # e.g. none: shows that the test catches the old write-behind's losses
        s.set_conf("store", "durability", os.environ["BASTION_CRASH_DURABILITY"])
    users = {uname(i): pw(i) for i in range(USERS)}
    import_users(s, users, tmp_path)
    return s.start()


@pytest.mark.parametrize("setting", [None, ("batch_max", "5"), ("batch_wait", "0"),
                                     ("batch_wait", "5")],
                         ids=["default", "batch_max=5", "batch_wait=0", "batch_wait=5"])
def test_kill9_under_registration_load_loses_no_acknowledged_binding(crash_server, setting):
    """default: a batch is committed once its oldest change has waited
    batch_wait (50 ms) after a round of events, or when a REGISTER finds
    batch_max (64) changes waiting; batch_max=5: a smaller batch (half as
    many kills); batch_wait 0, its lower bound (a commit after every round
    of events), and 5 ms (a quarter as many kills each)."""
    s = crash_server
    kills = KILLS
    if setting:
        s.set_conf("store", *setting)
        s.stop()
        s.start()
        kills = max(1, KILLS // (2 if setting[0] == "batch_max" else 4))
    db_path = os.path.join(s.state, "bastion.db")
    rnd = random.Random()
    seed = rnd.randrange(1 << 30)
    rnd.seed(seed)
    load = RegLoad(s.port)
    load.thread.start()
    unstored = 0
    try:
        for kill in range(kills):
            load.running.set()
            # a random moment: after a random number of 200s in this run
            target = load.count() + rnd.randint(5, 80)
            wait_for(lambda: load.count() >= target or load.error, 120,
                     f"kill {kill}: {target} 200 OKs (seed {seed})")
            assert load.error is None, load.error
            kill9(s)
            load.pause()
            acks = load.snapshot()
            stored, _, _ = check_db(db_path)
            lost = [(k, q) for k, q in acks.items() if stored.get(k, -1) < q]
            assert not lost, (f"kill {kill} (seed {seed}): {len(lost)} acknowledged bindings "
                              f"missing or older in the store, e.g. {lost[:5]}")
            # the log and the store agree: the events of a batch are
            # recorded just before its commit, its 200s just after
            logged = registered_events(s)
            stored_aors = {a for a, _ in stored}
            assert stored_aors <= logged, ("stored bindings without their event",
                                           sorted(stored_aors - logged)[:5])
            # events without a binding: only of the batch the kill interrupted
            # (its phones had no 200), so at most one per phone per kill
            unstored = len(logged - stored_aors)
            assert unstored <= len(load.phones) * (kill + 1), unstored
            restart(s)
            m = re.findall(r"(\d+) registrations restored", s.log_text())
            assert int(m[-1]) == len(stored), (m[-1], len(stored))
        assert load.by_tp["udp"] > 0 and load.by_tp["tcp"] > 0, load.by_tp
        print(f"{kills} kills, {load.count()} 200 OKs received ({dict(load.by_tp)}), "
              f"all stored; {unstored} events of batches a kill interrupted; seed {seed}")
    finally:
        load.stop.set()
        load.running.set()
        load.thread.join(timeout=30)


def test_ban_added_from_the_cli_survives_a_kill(crash_server):
    s = crash_server
    db_path = os.path.join(s.state, "bastion.db")
    for i in range(3):
        addr = f"192.0.2.{10 + i}"
        r = run_cli("--state", s.state, "ban", "add", addr, "1h")
        assert r.returncode == 0, r.stderr
        # the operator saw it succeed; the server dies at once
        kill9(s)
        _, bans, _ = check_db(db_path)
        assert addr in bans
        restart(s)
        out = run_cli("--state", s.state, "ban", "list").stdout
        assert addr in out


def test_ended_call_has_its_record_after_a_kill(crash_server):
    s = crash_server
    db_path = os.path.join(s.state, "bastion.db")
    a = Phone(s, uname(1), pw(1), "udp")
    b = Phone(s, uname(2), pw(2), "udp")
    a.register()
    b.register()
    call_id, _, cseq = a.invite(uname(2))
    a.expect_status(100, "INVITE")
    _, totag = b.answer()
    _, ok, _ = a.expect_status(200, "INVITE")
    a.in_dialog("ACK", ok, call_id, cseq, totag, a.tag)
    b.expect_request("ACK")
    a.in_dialog("BYE", ok, call_id, cseq + 1, totag, a.tag)
    _, bye, _ = b.expect_request("BYE")
    b.respond(bye, 200, "OK", totag)
    a.expect_status(200, "BYE")
    # the caller was told the call is over; the server dies at once
    kill9(s)
    a.close()
    b.close()
    _, _, calls = check_db(db_path)
    assert call_id in calls, (open(os.path.join(s.state, "cdr.log")).read(), s.log_text()[-3000:])
    restart(s)
    out = run_cli("--state", s.state, "cdr", "list").stdout
    assert f"call-id {call_id}" in out


# ---- the same with SIPp as the phones ---------------------------------------

SIPP_KILLS = int(os.environ.get("BASTION_CRASH_SIPP_KILLS", "4"))
SIPP_PER_ROUND = 400
SCENARIO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scenarios",
                        "register_auth.xml")


def sipp_acks(path):
    """{(aor, contact): cseq} of the 200 OKs to REGISTER in a SIPp message log."""
    acks = {}
    if not os.path.exists(path):
        return acks
    with open(path, errors="replace") as f:
        text = f.read()
    for block in text.split("message received")[1:]:
        msg = block.split("\n\n", 1)[1] if "\n\n" in block else ""
        if not msg.startswith("SIP/2.0 200 "):
            continue
        cseq = re.search(r"(?m)^CSeq: (\d+) REGISTER", msg)
        to = re.search(r"(?m)^To: <sip:([^@>]+)@", msg)
        contact = re.search(r"(?m)^Contact: <([^>]+)>", msg)
        if cseq and to and contact:
            key = (f"sip:{to.group(1)}@{DOMAIN}", contact.group(1))
            acks[key] = max(int(cseq.group(1)), acks.get(key, 0))
    return acks


def count_200(path):
    if not os.path.exists(path):
        return 0
    with open(path, errors="replace") as f:
        return f.read().count("\nSIP/2.0 200 ")


def test_kill9_under_sipp_load_loses_no_acknowledged_binding(make_server, tmp_path):
    """SIPp registers users (UDP, then TCP, alternating) with its message log
    on; the server gets SIGKILL after a random number of 200s; every 200 in
    SIPp's log has its binding stored, and the database is intact."""
    s = make_server("[auth]\nalgorithms = MD5,SHA-256\nuri_check = relaxed", start=False)
    if os.environ.get("BASTION_CRASH_DURABILITY"):
        s.set_conf("store", "durability", os.environ["BASTION_CRASH_DURABILITY"])
    n = SIPP_KILLS * SIPP_PER_ROUND
    import_users(s, {uname(i): pw(i) for i in range(n)}, tmp_path)
    s.start()
    db_path = os.path.join(s.state, "bastion.db")
    rnd = random.Random()
    seed = rnd.randrange(1 << 30)
    rnd.seed(seed)
    all_acks = {}
    for kill in range(SIPP_KILLS):
        tp = "u1" if kill % 2 == 0 else "t1"
        inf = tmp_path / f"round{kill}.csv"
        with open(inf, "w") as f:
            f.write("SEQUENTIAL\n")
            for i in range(kill * SIPP_PER_ROUND, (kill + 1) * SIPP_PER_ROUND):
                f.write(f"{uname(i)};{pw(i)}\n")
        msgs = str(tmp_path / f"round{kill}-messages.log")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            local_port = probe.getsockname()[1]
        sipp = subprocess.Popen(
            ["sipp", "-sf", SCENARIO, "-inf", str(inf), "-m", str(SIPP_PER_ROUND),
             "-r", "200", "-l", "50", "-t", tp, "-p", str(local_port), "-nostdin",
             "-recv_timeout", "3000", "-timeout", "90s", "-trace_msg", "-message_file", msgs,
             f"127.0.0.1:{s.port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
        try:
            target = rnd.randint(10, SIPP_PER_ROUND // 2)
            wait_for(lambda: count_200(msgs) >= target or sipp.poll() is not None, 120,
                     f"SIPp round {kill}: {target} 200 OKs (seed {seed})")
            kill9(s)
            sipp.wait(timeout=120)  # its calls time out (-recv_timeout), then it exits
        finally:
            if sipp.poll() is None:
                sipp.kill()
                sipp.wait(timeout=10)
        acks = sipp_acks(msgs)
        assert acks, f"round {kill}: SIPp's log has no 200 (seed {seed})"
        all_acks.update(acks)
        stored, _, _ = check_db(db_path)
        lost = [(k, q) for k, q in all_acks.items() if stored.get(k, -1) < q]
        assert not lost, (f"SIPp round {kill} (seed {seed}): {len(lost)} acknowledged "
                          f"bindings missing, e.g. {lost[:5]}")
        restart(s)
        m = re.findall(r"(\d+) registrations restored", s.log_text())
        assert int(m[-1]) == len(stored), (m[-1], len(stored))
