"""Emergency calls against full tables and a restart (issue 13's last gaps,
docs/emergency.md "Always connected"):

- a transaction table ([proxy] max_transactions) filled by ordinary calls
  ringing at a SIPp gateway that never answers: an ordinary INVITE gets 503,
  an emergency call still reaches the emergency peer (SIPp) through
  [emergency] reserved_transactions, is answered and hung up;
- a dialog table ([proxy] max_dialogs) full of ordinary calls: an ordinary
  call answered is not tracked (its BYE gets 481, as before), an emergency
  call's dialog takes one of [emergency] reserved_dialogs: its BYE is routed
  and its record written, marked;
- an emergency call restored after SIGKILL and a restart keeps its mark: it
  still counts against [emergency] max_calls, and its BYE writes a record
  marked emergency with the location sent.

Every wait is on a condition (a metric, a log line, a stored row, a
message), with generous deadlines; ports come from the kernel.
"""
import os
import re
import signal
import socket
import sqlite3
import subprocess
import time
import uuid

from conftest import DOMAIN, Phone, cdrs, digest_header, free_port, hval
from test_emergency import (SCEN, USERS, emerg_conf, emergency_call, sipp_psap,  # noqa: F401
                            users_of)
from test_metrics import scrape, value
from test_trunks import finish_call, kernel_port, sipp_done


def sipp_ringing(tmp_path, ip, port):
    """SIPp as a gateway that rings every call and never answers (no -m:
    the test stops it)."""
    proc = subprocess.Popen(["sipp", "-sf", os.path.join(SCEN, "gateway_ring.xml"), "-i", ip,
                             "-p", str(port), "-t", "u1", "-nostdin", "-trace_err",
                             "-error_file", str(tmp_path / f"err.ring.{ip}.log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind((ip, port))
            except OSError:
                return proc
        assert proc.poll() is None, "sipp exited"
        time.sleep(0.05)  # polling for the port above
    proc.kill()
    proc.wait()
    raise AssertionError("sipp did not bind its port")


def metric(port, name, **labels):
    v = value(scrape(port), name, **labels)
    assert v is not None, name
    return v


def wait_metric(port, name, pred, timeout=20.0, **labels):
    deadline = time.monotonic() + timeout
    while True:
        v = metric(port, name, **labels)
        if pred(v):
            return v
        assert time.monotonic() < deadline, f"{name}{labels} = {v}"
        time.sleep(0.1)  # polling the metric for the condition above


def first_answer(phone, method="INVITE", timeout=10.0):
    """The first final (or 180) response to method."""
    return phone.expect(lambda s, h: re.match(r"SIP/2\.0 (180|[2-6]\d\d) ", s) is not None
                        and hval(h, "CSeq")[0].endswith(" " + method), timeout,
                        f"answer to {method}")


def ordinary_call(phone, ruri):
    """An ordinary call through the 407: "ringing" once the gateway's 180
    comes back, "full" when the server answered 503 (to the first INVITE,
    statelessly, or to the authenticated one when its branch found no
    room). Every non-2xx final answer that came through a transaction is
    ACKed at once, so over TCP no transaction lingers (no timer I)."""
    call_id = uuid.uuid4().hex + "@test"
    sdp = ["Content-Type: application/sdp"]

    def invite(extra):
        phone.cseq += 1
        branch = "z9hG4bK" + uuid.uuid4().hex
        phone.send(phone.request("INVITE", ruri, ruri, call_id, phone.cseq, sdp + extra,
                                 b"v=0\r\n", branch=branch))
        start, hdrs, _ = phone.expect(
            lambda s, h: re.match(r"SIP/2\.0 (180|[3-6]\d\d) ", s) is not None and
            hval(h, "CSeq")[0] == f"{phone.cseq} INVITE", 10, "an answer to the INVITE")
        if not start.startswith("SIP/2.0 180"):
            tag = re.search(r";tag=([^;>\s]+)", hval(hdrs, "To")[0])
            phone.send(phone.request("ACK", ruri, ruri, call_id, phone.cseq, [], b"",
                                     branch=branch, to_tag=tag.group(1) if tag else None))
        return start, hdrs

    start, hdrs = invite([])
    if start.startswith("SIP/2.0 503"):
        return "full"
    assert start.startswith("SIP/2.0 407"), start
    chal = {}
    for v in hval(hdrs, "Proxy-Authenticate"):
        params = dict((k, a or b) for k, a, b in
                      re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]+))', v[7:]))
        chal[params.get("algorithm", "MD5")] = params
    auth = digest_header(phone.user, phone.password, chal["SHA-256"], "INVITE", ruri,
                         "SHA-256").replace("Authorization:", "Proxy-Authorization:")
    start, _ = invite([auth])
    if start.startswith("SIP/2.0 180"):
        return "ringing"
    assert start.startswith("SIP/2.0 503"), start
    return "full"


# ---- a full transaction table -------------------------------------------------------

def test_a_full_transaction_table_still_connects_an_emergency_call(make_server, users_of,
                                                                   tmp_path):
    """max_transactions = 16: ordinary calls over TCP (no lingering timers)
    to a SIPp gateway that rings forever hold two transactions each until
    the table is full (transactions_full_total counts the 503). The
    emergency call then reaches psap1 (SIPp), is answered and hung up; an
    ordinary call right after it still gets 503."""
    p_psap, p_ring = kernel_port("127.0.0.2"), kernel_port("127.0.0.3")
    mport = free_port()
    conf = emerg_conf([("127.0.0.2", p_psap)], routes="911 = psap1\n",
                      extra=f"[peer ring]\naddress = udp:127.0.0.3:{p_ring}\nrole = gateway\n"
                            f"ping_interval = 0\n[routes]\n+ = ring\n")
    conf = conf.replace("outside_prefix = 9\n", "outside_prefix = 9\nmax_calls_per_user = 0\n")
    s = make_server(conf, start=False)
    s.set_conf("proxy", "max_transactions", "16")
    s.set_conf("proxy", "invite_timeout", "3600")
    s.set_conf("metrics", "listen", f"127.0.0.1:{mport}")
    s.start()
    users_of(s)
    ring = sipp_ringing(tmp_path, "127.0.0.3", p_ring)
    psap = None
    try:
        assert metric(mport, "bastion_transactions_limit") == 16
        def held():
            return (metric(mport, "bastion_transactions", kind="server") +
                    metric(mport, "bastion_transactions", kind="client"))

        phones, outcome, ringing = [], None, 0
        for i in range(20):  # 8 ringing calls fill 16 transactions
            p = Phone(s, "1001", USERS["1001"], transport="tcp")
            phones.append(p)
            outcome = ordinary_call(p, f"sip:+1212555{i:04d}@{DOMAIN}")
            if outcome != "full":
                ringing += 1
                continue
            # the refused call's own transactions end with its ACK; only the
            # ringing calls' stay. A 503 can come with 7 ringing calls while
            # the 407's transaction still waited for its ACK: then a slot
            # pair is free again, and the next call rings.
            wait_metric(mport, "bastion_transactions", lambda v: v == ringing, kind="client")
            wait_metric(mport, "bastion_transactions", lambda v: v == ringing, kind="server")
            if 2 * ringing == 16:
                break
        assert outcome == "full" and ringing == 8, (outcome, ringing)
        # the condition: the table is full, and said so
        wait_metric(mport, "bastion_transactions_full_total", lambda v: v >= 1)
        assert held() == 16
        full_before = metric(mport, "bastion_transactions_full_total")

        # the emergency call gets through to the SIPp emergency peer
        psap, log = sipp_psap(tmp_path, "127.0.0.2", p_psap, "gateway_uas.xml",
                              ruri=r"^INVITE sip:911@127\.0\.0\.2:" + str(p_psap),
                              pai=r"Priority: emergency")
        e = Phone(s, "1002", USERS["1002"], transport="tcp")
        cid = emergency_call(e)
        _, ok, _ = e.expect_status(200, "INVITE", timeout=20)
        finish_call(e, ok, cid)   # the BYE is routed too: it may use the reserve
        sipp_done(psap, tmp_path, "127.0.0.2")
        psap = None

        # an ordinary call still finds the table full
        late = Phone(s, "1002", USERS["1002"], transport="tcp")
        assert ordinary_call(late, f"sip:+12125559999@{DOMAIN}") == "full"
        assert metric(mport, "bastion_transactions_full_total") > full_before
        recs = [r for r in cdrs(s, wait_for=1, timeout=10) if r.get("emergency")]
        assert recs and recs[-1]["call_id"] == cid and recs[-1]["status"] == 200, recs
        assert recs[-1]["hangup"] == "caller", recs[-1]
    finally:
        for proc in (ring, psap):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()


# ---- a full dialog table -------------------------------------------------------------

def answered_local_call(caller, callee, tracked=True):
    """caller calls callee (both registered), callee answers 200; returns
    the 200's headers, Call-ID and CSeq, and the callee's To tag. The ACK
    reaches the callee along a tracked dialog only."""
    call_id, _, cseq = caller.invite(callee.user)
    _, totag = callee.answer()
    _, ok, _ = caller.expect_status(200, "INVITE", timeout=10)
    caller.in_dialog("ACK", ok, call_id, cseq, totag, caller.tag)
    if tracked:
        callee.expect_request("ACK", timeout=10)
    return ok, call_id, cseq, totag


def test_a_full_dialog_table_keeps_the_emergency_call(make_server, users_of, tmp_path):
    """max_dialogs = 2, both held by ordinary calls: an ordinary call
    answered now is not tracked (its BYE gets 481: today's behaviour); an
    emergency call answered now takes one of the reserved dialogs, so its
    BYE reaches the emergency peer (SIPp) and its record is written."""
    p_psap = kernel_port("127.0.0.2")
    mport = free_port()
    s = make_server(emerg_conf([("127.0.0.2", p_psap)], routes="911 = psap1\n"), start=False)
    s.set_conf("proxy", "max_dialogs", "2")
    s.set_conf("metrics", "listen", f"127.0.0.1:{mport}")
    s.start()
    users_of(s)
    callee = Phone(s, "1002", USERS["1002"])
    callee.register()
    a = Phone(s, "1001", USERS["1001"])
    for _ in range(2):
        answered_local_call(a, callee)
    wait_metric(mport, "bastion_calls_active", lambda v: v == 2)
    assert metric(mport, "bastion_dialogs_limit") == 2
    # an ordinary call answered with the table full: not tracked
    ok, call_id, cseq, totag = answered_local_call(a, callee, tracked=False)
    wait_metric(mport, "bastion_dialogs_refused_total", lambda v: v == 1)
    assert metric(mport, "bastion_calls_active") == 2
    a.in_dialog("BYE", ok, call_id, cseq + 1, totag, a.tag)
    a.expect_status(481, "BYE", timeout=10)

    # the emergency call: its dialog is tracked from the reserve
    psap, log = sipp_psap(tmp_path, "127.0.0.2", p_psap, "gateway_uas.xml",
                          ruri=r"^INVITE sip:911@127\.0\.0\.2:" + str(p_psap),
                          pai=r"Geolocation: <cid:")
    try:
        d = Phone(s, "desk", USERS["desk"])
        cid = emergency_call(d)
        _, eok, _ = d.expect_status(200, "INVITE", timeout=20)
        wait_metric(mport, "bastion_dialogs_reserve_used_total", lambda v: v == 1)
        assert metric(mport, "bastion_calls_active") == 3
        finish_call(d, eok, cid)  # BYE routed to psap1 and answered 200
        sipp_done(psap, tmp_path, "127.0.0.2")
        psap = None
    finally:
        if psap is not None and psap.poll() is None:
            psap.kill()
            psap.wait()
    wait_metric(mport, "bastion_calls_active", lambda v: v == 2)
    recs = [r for r in cdrs(s, wait_for=1, timeout=10) if r.get("call_id") == cid]
    assert len(recs) == 1 and recs[0]["emergency"] and recs[0]["status"] == 200, recs
    assert recs[0]["hangup"] == "caller" and "ROOM=201" in recs[0]["location"], recs
    assert "dialog table full (2 and the emergency reserve)" not in s.log_text()


# ---- restored after a restart --------------------------------------------------------

def test_an_emergency_call_restored_after_a_kill_keeps_its_mark(make_server, users_of, tmp_path):
    """An emergency call is up (SIPp as psap1); the server is killed
    (SIGKILL) and started again. The restored call still counts against
    [emergency] max_calls (1): another emergency call gets 503 Emergency
    Capacity Reached. The caller's BYE reaches psap1, and the record says
    emergency, with the location sent; then there is room again."""
    from test_trunks import Gateway
    p_psap = kernel_port("127.0.0.2")
    g2 = Gateway("127.0.0.3")
    s = users_of(make_server(emerg_conf([("127.0.0.2", p_psap), g2],
                                        routes="911 = psap1\n933 = psap2\n",
                                        extra="[emergency]\nmax_calls = 1\n")))
    psap, log = sipp_psap(tmp_path, "127.0.0.2", p_psap, "gateway_uas.xml",
                          ruri=r"^INVITE sip:911@127\.0\.0\.2:" + str(p_psap),
                          pai=r"Geolocation: <cid:")
    try:
        a = Phone(s, "1001", USERS["1001"])
        cid = emergency_call(a)
        _, ok, _ = a.expect_status(200, "INVITE", timeout=20)
        totag = re.search(r";tag=([^;>\s]+)", hval(ok, "To")[0]).group(1)
        a.in_dialog("ACK", ok, cid, a.cseq, totag, a.tag)
        db = os.path.join(s.state, "bastion.db")

        def stored():
            with sqlite3.connect(db) as c:
                return c.execute("SELECT emergency, location FROM dialogs WHERE call_id = ?",
                                 (cid,)).fetchall()
        deadline = time.monotonic() + 10
        while not stored() and time.monotonic() < deadline:
            time.sleep(0.05)  # polling the store for the row
        (row,) = stored()
        assert row[0] == 1 and "ROOM=201" in row[1], row
        # the ACK is relayed statelessly, never stored: psap1 (SIPp) must
        # have it before the kill, or it takes the BYE for a protocol error
        deadline = time.monotonic() + 15
        while b"\nACK sip:" not in log.read_bytes():
            assert time.monotonic() < deadline, "psap1 got no ACK"
            time.sleep(0.05)  # polling SIPp's message log

        s.proc.send_signal(signal.SIGKILL)
        s.proc.wait(timeout=30)
        s.log.close()
        s.start()
        s.wait_log("1 calls in progress restored", timeout=15)

        # it still counts: max_calls is 1
        b = Phone(s, "1002", USERS["1002"])
        emergency_call(b, f"sip:933@{DOMAIN}")
        start, _, _ = b.expect_status(503, "INVITE", timeout=10)
        assert "Emergency Capacity Reached" in start
        g2.no_invite(0.3)

        # the caller hangs up: routed to psap1, the record marked
        a.in_dialog("BYE", ok, cid, a.cseq + 1, totag, a.tag)
        a.expect_status(200, "BYE", timeout=10)
        sipp_done(psap, tmp_path, "127.0.0.2")
        psap = None
    finally:
        if psap is not None and psap.poll() is None:
            psap.kill()
            psap.wait()
    recs = [r for r in cdrs(s, wait_for=1, timeout=10) if r.get("call_id") == cid]
    assert len(recs) == 1, recs
    rec = recs[0]
    assert rec["emergency"] and "ROOM=201" in rec["location"], rec
    assert rec["status"] == 200 and rec["hangup"] == "caller" and rec["class"] == "emergency"
    assert rec["auth_user"] == "1001" and rec["number"] == "911", rec
    # and the count is released: the next emergency call goes out
    b2 = Phone(s, "1002", USERS["1002"])
    emergency_call(b2, f"sip:933@{DOMAIN}")
    _, h, _ = g2.expect_invite(timeout=10)
    g2.respond(s, h, 486, "Busy Here")
    b2.expect_status(486, "INVITE", timeout=10)
    g2.close()
