"""Calls through the stateful proxy with real sockets: A and B register, A
calls B (INVITE/407/INVITE/100/180/200/ACK/BYE) over UDP and TCP; CANCEL;
forking to two contacts; busy with hop-by-hop ACK; retransmissions absorbed;
unregistered and unknown callees; spoofed From; injected identity headers;
in-dialog requests from outside the dialog."""
import os
import re
import time
import uuid

import pytest

from conftest import (DOMAIN, Phone, Registrar, cdrs, events, header, hval, import_users,
                      run_cli, status_of)

USERS = {"1001": "correct-horse-1001", "1002": "battery-staple-1002",
         "1003": "purple-monkey-1003"}


@pytest.fixture
def proxy(make_server, tmp_path):
    s = make_server()
    import_users(s, USERS, tmp_path)
    return s


def phones(server, transport="udp", callee_contacts=1):
    a = Phone(server, "1001", USERS["1001"], transport)
    a.register()
    bs = []
    for _ in range(callee_contacts):
        b = Phone(server, "1002", USERS["1002"], transport)
        b.register()
        bs.append(b)
    return a, bs


def to_tag(hdrs):
    return re.search(r";tag=([^;>\s]+)", hval(hdrs, "To")[0]).group(1)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_basic_call(proxy, transport):
    a, (b,) = phones(proxy, transport)
    # A injects identity headers: they must not reach B
    call_id, _, cseq = a.invite("1002", extra=["P-Asserted-Identity: <sip:ceo@example.test>",
                                               "Remote-Party-ID: <sip:ceo@example.test>;party=calling",
                                               "P-Preferred-Identity: <sip:ceo@example.test>"])
    a.expect_status(100, "INVITE")
    inv, totag = b.answer()
    assert hval(inv, "P-Asserted-Identity") == [f"<sip:1001@{DOMAIN}>"]
    assert hval(inv, "Remote-Party-ID") == [] and hval(inv, "P-Preferred-Identity") == []
    assert hval(inv, "Proxy-Authorization") == []  # our credentials were consumed
    assert hval(inv, "Max-Forwards") == ["69"]
    assert hval(inv, "Record-Route"), "the proxy stays on the path"
    assert len(hval(inv, "Via")) == 2
    a.expect_status(180, "INVITE")
    _, ok, _ = a.expect_status(200, "INVITE")
    assert len(hval(ok, "Via")) == 1  # the proxy's Via was removed
    # ACK for the 2xx, then BYE, along the dialog
    a.in_dialog("ACK", ok, call_id, cseq, totag, a.tag)
    b.expect_request("ACK")
    a.in_dialog("BYE", ok, call_id, cseq + 1, totag, a.tag)
    _, bye, _ = b.expect_request("BYE")
    b.respond(bye, 200, "OK", totag)
    a.expect_status(200, "BYE")
    # the dialog is over: another BYE is refused
    a.in_dialog("BYE", ok, call_id, cseq + 2, totag, a.tag)
    a.expect_status(481, "BYE")
    # one record for the call, with the right fields
    (rec,) = [r for r in cdrs(proxy) if r["call_id"] == call_id]
    assert rec["caller"] == f"sip:1001@{DOMAIN}" and rec["auth_user"] == "1001"
    assert rec["callee"] == f"sip:1002@{DOMAIN}"
    assert rec["src"] == f"{transport}:127.0.0.1:{a.port}" and rec["transport"] == transport
    assert rec["status"] == 200 and rec["hangup"] == "caller"
    assert rec["start"] and rec["answer"] and rec["end"] and rec["duration_s"] >= 0
    # the same record is in the store: bastion cdr list
    out = run_cli("--state", proxy.state, "cdr", "list", "--user", "1001").stdout
    (line,) = [x for x in out.splitlines() if f"call-id {call_id}" in x]
    assert "status 200" in line and "hangup caller" in line and "user 1001" in line


def test_callee_hangs_up(proxy):
    a, (b,) = phones(proxy)
    call_id, _, cseq = a.invite("1002")
    inv, totag = b.answer()
    _, ok, _ = a.expect_status(200, "INVITE")
    a.in_dialog("ACK", ok, call_id, cseq, totag, a.tag)
    b.expect_request("ACK")
    # B sends BYE toward A: Request-URI A's Contact, routes in received order
    b.in_dialog("BYE", inv, call_id, 1, a.tag, totag, from_me=False)
    _, bye, _ = a.expect_request("BYE")
    a.respond(bye, 200, "OK", a.tag)
    b.expect_status(200, "BYE")
    (rec,) = [r for r in cdrs(proxy) if r["call_id"] == call_id]
    assert rec["hangup"] == "callee" and rec["status"] == 200


def test_cancel(proxy):
    a, (b,) = phones(proxy)
    call_id, branch, cseq = a.invite("1002")
    inv, totag = b.answer(ring_only=True)
    a.expect_status(180, "INVITE")
    ruri = f"sip:1002@{DOMAIN}"
    a.send(a.request("CANCEL", ruri, ruri, call_id, cseq, branch=branch))
    a.expect_status(200, "CANCEL")
    _, cancel, _ = b.expect_request("CANCEL")
    b.respond(cancel, 200, "OK", totag)
    b.respond(inv, 487, "Request Terminated", totag)
    a.expect_status(487, "INVITE")
    b.expect_request("ACK")  # hop by hop, from the proxy
    (rec,) = [r for r in cdrs(proxy) if r["call_id"] == call_id]
    assert rec["status"] == 487 and rec["hangup"] == "none" and rec["answer"] is None


def test_forking_to_two_contacts(proxy):
    a, (b1, b2) = phones(proxy, callee_contacts=2)
    call_id, _, cseq = a.invite("1002")
    inv1, tag1 = b1.answer(ring_only=True)
    inv2, tag2 = b2.answer()
    _, ok, _ = a.expect_status(200, "INVITE")
    # the other branch is cancelled
    _, cancel, _ = b1.expect_request("CANCEL")
    b1.respond(cancel, 200, "OK", tag1)
    b1.respond(inv1, 487, "Request Terminated", tag1)
    b1.expect_request("ACK")
    a.in_dialog("ACK", ok, call_id, cseq, tag2, a.tag)
    b2.expect_request("ACK")
    a.nothing()  # the 487 of the cancelled branch does not reach A


def test_busy_and_hop_by_hop_ack(proxy):
    a, (b,) = phones(proxy)
    call_id, _, cseq = a.invite("1002")
    inv, totag = b.answer(code=486)
    _, busy, _ = a.expect_status(486, "INVITE")
    b.expect_request("ACK")  # the proxy's own ACK (RFC 3261 17.1.1.3)
    ruri = f"sip:1002@{DOMAIN}"
    # A's ACK for the 486 is absorbed by the proxy's server transaction
    a.send(a.request("ACK", ruri, ruri, call_id, cseq, branch=re.search(
        r"branch=([^;]+)", hval(busy, "Via")[0]).group(1), to_tag=to_tag(busy)))
    b.nothing()


def test_invite_retransmission_absorbed(proxy):
    a, (b,) = phones(proxy)
    a.invite("1002")
    inv, totag = b.answer(ring_only=True)  # B rings: the proxy stops retransmitting
    a.expect_status(180, "INVITE")
    a.send(a.last_invite)  # the same INVITE again (UDP retransmissions by A)
    a.send(a.last_invite)
    b.nothing(1.0)  # absorbed by the proxy: no INVITE reaches B again
    a.expect_status(180, "INVITE")  # A gets the last provisional response again


def test_unregistered_and_unknown(proxy):
    a, _ = phones(proxy)
    c1, _, _ = a.invite("1003")  # exists, not registered
    a.expect_status(480, "INVITE")
    c2, _, _ = a.invite("4242")  # no such user (after authentication: 404)
    a.expect_status(404, "INVITE")
    recs = {r["call_id"]: r for r in cdrs(proxy, wait_for=2)}
    assert recs[c1]["status"] == 480 and recs[c2]["status"] == 404


def test_unauthenticated_invite_challenged(proxy):
    a = Phone(proxy, "1001", USERS["1001"])
    ruri = f"sip:1002@{DOMAIN}"
    a.send(a.request("INVITE", ruri, ruri, uuid.uuid4().hex, 1))
    _, hdrs, _ = a.expect_status(407, "INVITE")
    algos = [re.search(r"algorithm=([\w-]+)", v).group(1) for v in hval(hdrs, "Proxy-Authenticate")]
    assert algos == ["SHA-256", "MD5"]


def test_wrong_password_on_invite(proxy):
    a, (b,) = phones(proxy)
    a.invite("1002", password="not-the-password")
    a.expect_status(403, "INVITE")
    b.nothing()
    assert events(proxy, "auth.failure")


def test_spoofed_from_refused(proxy):
    a, (b,) = phones(proxy)
    # A's own credentials, but claiming to be 1003
    call_id, _, _ = a.invite("1002", from_user="1003")
    a.expect_status(403, "INVITE")
    b.nothing()
    ev = events(proxy, "call.spoofed_from")
    assert ev and ev[-1]["user"] == "1001" and "1003" in ev[-1]["aor"]
    # it passed authentication, so it is a call attempt with a record (docs/proxy.md)
    (rec,) = [r for r in cdrs(proxy) if r["call_id"] == call_id]
    assert rec["status"] == 403 and rec["auth_user"] == "1001" and rec["hangup"] == "none"


def test_in_dialog_request_from_outsider(proxy):
    a, (b,) = phones(proxy)
    call_id, _, cseq = a.invite("1002")
    inv, totag = b.answer()
    _, ok, _ = a.expect_status(200, "INVITE")
    a.in_dialog("ACK", ok, call_id, cseq, totag, a.tag)
    b.expect_request("ACK")
    # C knows the dialog's identifiers but is not A
    c = Phone(proxy, "1003", USERS["1003"])
    c.sock.close()
    import socket
    c.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.sock.bind(("127.0.0.2", 0))
    c.port = c.sock.getsockname()[1]
    c.user = "1001"
    c.in_dialog("BYE", ok, call_id, cseq + 1, totag, a.tag)
    c.expect_status(403, "BYE")
    b.nothing()


def test_allowed_extra_identity(proxy):
    """A shared line allowed for 1001 from the command line: calls from it
    pass, and the asserted identity is that line."""
    from conftest import run_cli
    before = proxy.reloads()
    r = run_cli("--state", proxy.state, "user", "identity", "add", "1001", f"sip:sales@{DOMAIN}")
    assert r.returncode == 0, r.stderr
    proxy.wait_reload(before)  # identities are reloaded with the users
    a, (b,) = phones(proxy)
    a.invite("1002", from_user="sales")
    inv, _ = b.answer(ring_only=True)
    assert hval(inv, "P-Asserted-Identity") == [f"<sip:sales@{DOMAIN}>"]
    # 1003 is still not one of 1001's identities
    a.invite("1002", from_user="1003")
    a.expect_status(403, "INVITE")


def sipp_port():
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("calls", [int(os.environ.get("BASTION_SIPP_CALLS", "2000"))])
def test_sipp_calls(make_server, tmp_path, calls):
    """SIPp caller and callee: the callee registers from its own port, then
    answers; every call completes (INVITE/407/INVITE/100/180/200/ACK/BYE)
    and has its record."""
    import os
    import subprocess
    scen = os.path.join(os.path.dirname(__file__), "scenarios")
    # Not an overload test: a machine busy with other work must not make the
    # server shed these calls with 503 (test_guard covers overload_delay).
    s = make_server("[auth]\nalgorithms = MD5,SHA-256\nuri_check = relaxed\n"
                    "[log]\nlevel = warn\n[guard]\noverload_delay = 0")
    import_users(s, USERS, tmp_path)
    (tmp_path / "callee.csv").write_text("SEQUENTIAL\n1002;battery-staple-1002\n")
    (tmp_path / "caller.csv").write_text("SEQUENTIAL\n1001;correct-horse-1001;1002\n")
    uas_port, uac_port = sipp_port(), sipp_port()
    common = ["-t", "u1", "-nostdin", "-timeout", "120s", "-timeout_error", "-trace_err"]
    r = subprocess.run(["sipp", "-sf", os.path.join(scen, "register_auth.xml"),
                        "-inf", str(tmp_path / "callee.csv"), "-m", "1", "-p", str(uas_port),
                        *common, f"127.0.0.1:{s.port}"],
                       capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-1000:]
    uas = subprocess.Popen(["sipp", "-sf", os.path.join(scen, "call_uas.xml"), "-m", str(calls),
                            "-p", str(uas_port), *common, "-error_file",
                            str(tmp_path / "uas_err.log"), f"127.0.0.1:{s.port}"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        time.sleep(0.3)
        r = subprocess.run(["sipp", "-sf", os.path.join(scen, "call_uac.xml"),
                            "-inf", str(tmp_path / "caller.csv"), "-m", str(calls), "-r", "150",
                            "-l", "300", "-p", str(uac_port), *common, "-error_file",
                            str(tmp_path / "uac_err.log"), f"127.0.0.1:{s.port}"],
                           capture_output=True, text=True, timeout=180, cwd=tmp_path)
        out, _ = uas.communicate(timeout=60)
    finally:
        if uas.poll() is None:
            uas.kill()
            uas.wait()
    err = (tmp_path / "uac_err.log").read_text() if (tmp_path / "uac_err.log").exists() else ""
    assert r.returncode == 0, r.stdout[-1500:] + err[-1500:]
    assert uas.returncode == 0, out[-1500:]
    recs = [x for x in cdrs(s, wait_for=calls) if x["status"] == 200]
    assert len(recs) == calls
    assert all(x["hangup"] == "caller" and x["auth_user"] == "1001" for x in recs)


def test_timer_c_ends_an_unanswered_call(make_server, tmp_path):
    """[proxy] invite_timeout: a callee that rings and never answers is
    cancelled, and the caller gets 408."""
    s = make_server("[proxy]\ninvite_timeout = 2")
    import_users(s, USERS, tmp_path)
    a, (b,) = phones(s)
    call_id, _, _ = a.invite("1002")
    inv, totag = b.answer(ring_only=True)
    a.expect_status(180, "INVITE")
    _, cancel, _ = b.expect_request("CANCEL", timeout=5)
    b.respond(cancel, 200, "OK", totag)
    b.respond(inv, 487, "Request Terminated", totag)
    a.expect_status(408, "INVITE")
    (rec,) = [r for r in cdrs(s) if r["call_id"] == call_id]
    assert rec["status"] == 408


def test_sigterm_finishes_a_call_in_progress(make_server, tmp_path):
    """[server] stop_grace: on SIGTERM new registrations and calls get 503 with
    Retry-After, a call that is ringing still completes (its 200, ACK and
    BYE pass), and the server exits once nothing is left, before the grace."""
    import signal
    s = make_server("[server]\nstop_grace = 60")
    import_users(s, USERS, tmp_path)
    a, (b,) = phones(s)
    call_id, _, cseq = a.invite("1002")
    inv, totag = b.answer(ring_only=True)
    a.expect_status(180, "INVITE")
    s.signal(signal.SIGTERM)
    s.wait_log("stopping: finishing what is in progress")
    # a new registration is turned away, with a time to come back
    late = Registrar(s, "1002", USERS["1002"])
    r = late.send(late.request())
    assert status_of(r) == (503, "Shutting Down")
    assert header(r, "Retry-After") == ["30"]
    # the call in progress goes on: answered, acknowledged, ended
    b.respond(inv, 200, "OK", totag, body=b"v=0\r\n")
    _, ok, _ = a.expect_status(200, "INVITE")
    a.in_dialog("ACK", ok, call_id, cseq, totag, a.tag)
    b.expect_request("ACK")
    a.in_dialog("BYE", ok, call_id, cseq + 1, totag, a.tag)
    _, bye, _ = b.expect_request("BYE")
    b.respond(bye, 200, "OK", totag)
    a.expect_status(200, "BYE")
    # the INVITE's client transaction lingers 32 s after the 2xx only to
    # absorb retransmissions (RFC 6026): it does not hold the stop, and the
    # server is gone well before the 60 s grace, having written the record
    s.proc.wait(timeout=45)
    assert s.proc.returncode == 0
    m = re.search(r"stopping: nothing left in progress \((\d+) transactions only absorbing",
                  s.log_text())
    assert m and int(m.group(1)) >= 1, s.log_text()[-1500:]
    (rec,) = [r for r in cdrs(s) if r["call_id"] == call_id]
    assert rec["status"] == 200 and rec["hangup"] == "caller"


def test_restart_keeps_a_call(make_server, tmp_path):
    """A confirmed dialog is written behind to the store, so a restart keeps
    the call: after it, the caller's BYE is still routed to the callee, both
    sides end, and the call's record gets its real end and who hung up."""
    import sqlite3
    s = make_server()
    import_users(s, USERS, tmp_path)
    a, (b,) = phones(s)
    call_id, _, cseq = a.invite("1002")
    inv, totag = b.answer()
    _, ok, _ = a.expect_status(200, "INVITE")
    a.in_dialog("ACK", ok, call_id, cseq, totag, a.tag)
    b.expect_request("ACK")
    db = os.path.join(s.state, "bastion.db")

    def stored():
        with sqlite3.connect(db) as c:
            return c.execute("SELECT count(*) FROM dialogs WHERE call_id = ?",
                             (call_id,)).fetchone()[0]
    deadline = time.monotonic() + 10
    while stored() != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stored() == 1
    assert s.stop() == 0
    assert not [r for r in cdrs(s, wait_for=0) if r["call_id"] == call_id]  # not over
    s.start()
    s.wait_log("1 calls in progress restored")
    a.in_dialog("BYE", ok, call_id, cseq + 1, totag, a.tag)
    _, bye, _ = b.expect_request("BYE")
    b.respond(bye, 200, "OK", totag)
    a.expect_status(200, "BYE")
    (rec,) = [r for r in cdrs(s) if r["call_id"] == call_id]
    assert rec["status"] == 200 and rec["hangup"] == "caller" and rec["auth_user"] == "1001"
    assert rec["answer"] and rec["end"] > rec["answer"]
    deadline = time.monotonic() + 10
    while stored() != 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stored() == 0
