"""Crash tests for calls: no confirmed call and no ended call is lost when the
server is killed (group commit for dialogs and call records, docs/proxy.md).

A scripted call load runs: PAIRS callers (UDP) each call their own callee
(UDP, registered once), answering the 407 with SHA-256 digest; the callee
answers 180 and 200; the caller ACKs and, for every other call, hangs up at
once with a BYE. The server is killed with SIGKILL at a random moment (a
random number of answered calls into the round), several times. After
each kill:
- the database passes PRAGMA integrity_check;
- every dialog whose 200 OK reached its caller (and that the caller had not
  started to end) is in the store: the 200 to an INVITE is sent only once
  the dialog's row is committed;
- every call whose BYE got its 200 has its record (hangup "caller"): the
  answer to a BYE waits for the record's batch;
- after the restart each of those dialogs is restored, and the caller's BYE
  reaches the callee, is answered 200, and writes the record with the real
  end (status 200, hangup "caller").

Every wait is on a condition with a generous deadline; the kill moment is
random, so it lands anywhere in the batch cycle.
"""
import collections
import hashlib
import os
import random
import re
import selectors
import signal
import socket
import sqlite3
import threading
import time
import uuid

from conftest import DOMAIN, import_users

KILLS = int(os.environ.get("BASTION_CRASH_CALL_KILLS", "10"))
PAIRS = 10


def pw(name):
    return f"call-crash-password-{name}"


def challenges(head, header="proxy-authenticate"):
    out = {}
    for line in head.split("\r\n"):
        if line.lower().startswith(header + ":"):
            v = line.split(":", 1)[1].strip()[7:]
            params = dict((k, a or b) for k, a, b in
                          re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]+))', v))
            out[params.get("algorithm", "MD5")] = params
    return out


def proxy_auth(user, password, params, method, uri):
    h = hashlib.sha256
    a1 = h(f"{user}:{params['realm']}:{password}".encode()).hexdigest()
    a2 = h(f"{method}:{uri}".encode()).hexdigest()
    cnonce = uuid.uuid4().hex[:8]
    resp = h(f"{a1}:{params['nonce']}:00000001:{cnonce}:auth:{a2}".encode()).hexdigest()
    return (f'Proxy-Authorization: Digest username="{user}", realm="{params["realm"]}", '
            f'nonce="{params["nonce"]}", uri="{uri}", response="{resp}", '
            f'algorithm=SHA-256, cnonce="{cnonce}", qop=auth, nc=00000001')


def headers(head):
    out = collections.defaultdict(list)
    for line in head.split("\r\n")[1:]:
        k, _, v = line.partition(":")
        out[k.strip().lower()].append(v.strip())
    return out


class Party:
    """One UDP socket of the load: a caller or a callee."""

    def __init__(self, load, user):
        self.load, self.user = load, user
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]

    def contact(self):
        return f"<sip:{self.user}@127.0.0.1:{self.port}>"

    def via(self, branch=None):
        return (f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};"
                f"branch={branch or 'z9hG4bK' + uuid.uuid4().hex};rport")

    def send(self, text):
        try:
            self.sock.sendto(text.encode(), ("127.0.0.1", self.load.port))
        except OSError:
            pass


class Callee(Party):
    """Answers INVITE with 180 and 200, BYE with 200; notes the BYEs."""

    def respond(self, head, code, reason, totag, body=""):
        h = headers(head)
        to = h["to"][0]
        lines = [f"SIP/2.0 {code} {reason}"] + [f"Via: {v}" for v in h["via"]]
        lines += [f"Record-Route: {v}" for v in h["record-route"]]
        lines += [f"From: {h['from'][0]}", f"To: {to}" + ("" if ";tag=" in to else f";tag={totag}"),
                  f"Call-ID: {h['call-id'][0]}", f"CSeq: {h['cseq'][0]}",
                  f"Contact: {self.contact()}"]
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body)}")
        self.send("\r\n".join(lines) + "\r\n\r\n" + body)

    def on_message(self, data, now):
        head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
        if head.startswith("INVITE "):
            totag = uuid.uuid4().hex[:8]
            self.respond(head, 180, "Ringing", totag)
            self.respond(head, 200, "OK", totag, "v=0\r\n")
        elif head.startswith("BYE "):
            self.respond(head, 200, "OK", "")
            self.load.bye_seen(headers(head)["call-id"][0])


class Caller(Party):
    """Calls its callee over and over: INVITE, 407, INVITE with credentials,
    200 (an acknowledged dialog), ACK, and every other time BYE at once."""

    def __init__(self, load, user, callee):
        super().__init__(load, user)
        self.callee = callee
        self.state = "idle"
        self.deadline = 0.0
        self.cseq = 0
        self.n = 0
        self.ending = {}   # call-id -> dialog being ended by BYE
        self.pending_bye = collections.deque()

    def request(self, method, ruri, to, call_id, cseq, extra=(), body="", branch=None):
        lines = [f"{method} {ruri} SIP/2.0", self.via(branch), "Max-Forwards: 70",
                 f"From: <sip:{self.user}@{DOMAIN}>;tag={self.tag}", f"To: {to}",
                 f"Call-ID: {call_id}", f"CSeq: {cseq} {method}",
                 f"Contact: {self.contact()}"] + list(extra)
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body)}")
        return "\r\n".join(lines) + "\r\n\r\n" + body

    def start(self, now):
        self.call_id = uuid.uuid4().hex + "@crash"
        self.tag = uuid.uuid4().hex[:8]
        self.cseq = 1
        self.ruri = f"sip:{self.callee.user}@{DOMAIN}"
        self.send(self.request("INVITE", self.ruri, f"<{self.ruri}>", self.call_id, 1,
                               body="v=0\r\n"))
        self.state = "challenge"
        self.deadline = now + 5.0

    def bye(self, d):
        """End dialog d (a dict from the load's records)."""
        lines = [f"BYE {d['target']} SIP/2.0", self.via(), "Max-Forwards: 70",
                 f"From: <sip:{self.user}@{DOMAIN}>;tag={d['tag0']}",
                 f"To: <sip:{self.callee.user}@{DOMAIN}>;tag={d['tag1']}",
                 f"Call-ID: {d['call_id']}", f"CSeq: 3 BYE"]
        lines += [f"Route: {r}" for r in reversed(d["routes"])]
        lines.append("Content-Length: 0")
        self.ending[d["call_id"]] = d
        self.send("\r\n".join(lines) + "\r\n\r\n")

    def on_message(self, data, now):
        head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
        m = re.match(r"SIP/2.0 (\d{3}) ", head)
        if not m:
            return
        code = int(m.group(1))
        h = headers(head)
        cid = h["call-id"][0] if h["call-id"] else ""
        cseq = h["cseq"][0] if h["cseq"] else ""
        if cseq.endswith(" BYE"):
            if code == 200 and cid in self.ending:
                self.load.bye_answered(self.ending.pop(cid))
            return
        if cid != getattr(self, "call_id", None) or code < 200:
            return
        if self.state == "challenge" and code == 407:
            totag = re.search(r";tag=([^;>\s]+)", h["to"][0]).group(1)
            branch = re.search(r"branch=([^;\s]+)", h["via"][0]).group(1)
            self.send(self.request("ACK", self.ruri, f"<{self.ruri}>;tag={totag}", cid, 1,
                                   branch=branch))
            chal = challenges(head)["SHA-256"]
            auth = proxy_auth(self.user, pw(self.user), chal, "INVITE", self.ruri)
            self.cseq = 2
            self.send(self.request("INVITE", self.ruri, f"<{self.ruri}>", cid, 2, [auth],
                                   body="v=0\r\n"))
            self.state = "calling"
            self.deadline = now + 5.0
        elif self.state == "calling" and code == 200 and cseq == "2 INVITE":
            totag = re.search(r";tag=([^;>\s]+)", h["to"][0]).group(1)
            target = re.search(r"<([^>]+)>", h["contact"][0]).group(1)
            d = {"call_id": cid, "tag0": self.tag, "tag1": totag, "target": target,
                 "routes": list(h["record-route"]), "caller": self}
            lines = [f"ACK {target} SIP/2.0", self.via(), "Max-Forwards: 70",
                     f"From: <sip:{self.user}@{DOMAIN}>;tag={self.tag}",
                     f"To: <{self.ruri}>;tag={totag}", f"Call-ID: {cid}", "CSeq: 2 ACK"]
            lines += [f"Route: {r}" for r in reversed(d["routes"])]
            lines.append("Content-Length: 0")
            self.send("\r\n".join(lines) + "\r\n\r\n")
            self.n += 1
            if self.n % 2 == 0:
                self.bye(d)       # this one ends at once
                self.load.answered(d, ending=True)
            else:
                self.load.answered(d, ending=False)
            self.state = "idle"
        elif code >= 300:
            self.state = "idle"


class CallLoad:
    def __init__(self, port):
        self.port = port
        self.lock = threading.Lock()
        self.callees = [Callee(self, f"e{i:03d}") for i in range(PAIRS)]
        self.callers = [Caller(self, f"c{i:03d}", self.callees[i]) for i in range(PAIRS)]
        self.up = {}          # call-id -> dialog acknowledged, not being ended
        self.ending = {}      # call-id -> dialog whose BYE is out, unanswered
        self.ended = {}       # call-id -> dialog whose BYE got 200
        self.byes = set()     # call-ids of the BYEs callees received
        self.n_answered = 0
        self.stop = threading.Event()
        self.running = threading.Event()
        self.todo = collections.deque()  # dialogs to end (after a restart)
        self.error = None
        self.thread = threading.Thread(target=self.run, daemon=True)

    def answered(self, d, ending):
        with self.lock:
            self.n_answered += 1
            (self.ending if ending else self.up)[d["call_id"]] = d

    def bye_answered(self, d):
        with self.lock:
            self.ending.pop(d["call_id"], None)
            self.up.pop(d["call_id"], None)
            self.ended[d["call_id"]] = d

    def bye_seen(self, call_id):
        with self.lock:
            self.byes.add(call_id)

    def count(self):
        with self.lock:
            return self.n_answered

    def end(self, dialogs):
        """Have their callers send BYE (from the load's thread)."""
        with self.lock:
            for d in dialogs:
                self.up.pop(d["call_id"], None)
                self.ending[d["call_id"]] = d
                self.todo.append(d)

    def run(self):
        sel = selectors.DefaultSelector()
        for p in self.callers + self.callees:
            sel.register(p.sock, selectors.EVENT_READ, p)
        try:
            deadline = time.monotonic() + 1800  # bounded, whatever happens
            while not self.stop.is_set() and time.monotonic() < deadline:
                now = time.monotonic()
                with self.lock:
                    todo, self.todo = list(self.todo), collections.deque()
                for d in todo:
                    d["caller"].bye(d)
                for c in self.callers:
                    if not self.running.is_set():
                        c.state = "idle"
                    elif c.state == "idle" or now > c.deadline:
                        c.start(now)
                for key, _ in sel.select(timeout=0.02):
                    try:
                        data = key.data.sock.recv(70000)
                    except OSError:
                        continue
                    key.data.on_message(data, time.monotonic())
        except Exception as e:  # reported by the test
            self.error = e
        finally:
            sel.close()
            for p in self.callers + self.callees:
                p.sock.close()


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.01)
    raise AssertionError(f"not within {timeout}s: {what}")


def stored(path):
    """integrity_check, then the stored dialog keys and {call_id: (status, hangup)}."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        (res,) = db.execute("PRAGMA integrity_check").fetchone()
        assert res == "ok", f"integrity_check after a kill: {res}"
        dialogs = {tuple(r) for r in db.execute("SELECT call_id, tag0, tag1 FROM dialogs")}
        cdrs = {r[0]: (r[1], r[2]) for r in
                db.execute("SELECT call_id, final_status, hangup FROM cdrs")}
    finally:
        db.close()
    return dialogs, cdrs


def test_kill9_under_call_load_loses_no_confirmed_or_ended_call(make_server, tmp_path):
    s = make_server(start=False)
    # The load's 20 phones share 127.0.0.1 and every restart starts the guard
    # afresh: its per-source budgets (made for one phone) would drop the
    # first burst of each run. This test is about durability: no budgets.
    s.set_conf("guard", "rate", "0")
    s.set_conf("guard", "invite_rate", "0")
    s.set_conf("guard", "register_rate", "0")
    users = {f"c{i:03d}": pw(f"c{i:03d}") for i in range(PAIRS)}
    users.update({f"e{i:03d}": pw(f"e{i:03d}") for i in range(PAIRS)})
    import_users(s, users, tmp_path)
    s.start()
    db_path = os.path.join(s.state, "bastion.db")
    load = CallLoad(s.port)
    # the callees register once; their bindings survive the restarts
    from conftest import Phone
    for e in load.callees:
        ph = Phone(s, e.user, pw(e.user), "udp")
        ph.sock.close()
        ph.sock, ph.port = e.sock, e.port
        ph.register()
    load.thread.start()
    rnd = random.Random()
    seed = rnd.randrange(1 << 30)
    rnd.seed(seed)
    restored_total = ended_total = 0
    try:
        for kill in range(KILLS):
            load.running.set()
            target = load.count() + rnd.randint(3, 40)
            wait_for(lambda: load.count() >= target or load.error, 120,
                     f"kill {kill}: {target} answered calls (seed {seed})")
            assert load.error is None, load.error
            s.proc.send_signal(signal.SIGKILL)
            s.proc.wait(timeout=30)
            s.log.close()
            load.running.clear()
            with load.lock:
                up = dict(load.up)
                ended = dict(load.ended)
                load.ended.clear()
                # a BYE that got no answer may or may not have been taken:
                # neither side of the check
                load.ending.clear()
            dialogs, cdrs = stored(db_path)
            missing = [cid for cid, d in up.items()
                       if (cid, d["tag0"], d["tag1"]) not in dialogs]
            assert not missing, (f"kill {kill} (seed {seed}): {len(missing)} confirmed "
                                 f"dialogs not stored, e.g. {missing[:3]}")
            lost = [cid for cid in ended if cdrs.get(cid) != (200, "caller")]
            assert not lost, (f"kill {kill} (seed {seed}): {len(lost)} ended calls without "
                              f"their record, e.g. {[(c, cdrs.get(c)) for c in lost[:3]]}")
            ended_total += len(ended)
            s.start()
            # the restored dialogs: the caller's BYE ends both sides
            load.end(list(up.values()))
            wait_for(lambda: all(cid in load.ended for cid in up) or load.error, 60,
                     f"kill {kill}: BYEs of {len(up)} restored dialogs answered")
            assert load.error is None, load.error
            with load.lock:
                assert set(up) <= load.byes, sorted(set(up) - load.byes)[:3]
                load.ended.clear()
            restored_total += len(up)

            def records_real():
                _, c = stored(db_path)
                return all(c.get(cid) == (200, "caller") for cid in up)
            wait_for(records_real, 30, f"kill {kill}: records of the restored calls")
        assert restored_total > 0 and ended_total > 0, (restored_total, ended_total)
        print(f"{KILLS} kills, {load.count()} calls answered; {restored_total} restored and "
              f"ended after a kill, {ended_total} ended before one, all recorded; seed {seed}")
    finally:
        load.stop.set()
        load.running.set()
        load.thread.join(timeout=30)
