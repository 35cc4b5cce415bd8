"""Restarts keep calls whose sides are on TCP or TLS (docs/proxy.md, Restarts).

After a restart (a graceful SIGTERM, or SIGKILL) every TCP and TLS
connection of the old run is gone, and a phone that has sent nothing since
has no connection to be reached on. For an in-dialog request to such a side
(RFC 5626 5.3, RFC 3261 18.1.1):
- over TCP the server opens a connection to the side's registered contact,
  where the phone listens: the caller's BYE reaches a callee that said
  nothing since the restart;
- over TLS (a phone is no TLS server whose certificate the server could
  check) it uses the phone's registered flow once the phone registers again
  (RFC 5626: same +sip.instance and reg-id, a new connection and contact).
Both end the call on both sides and write the record with its real end.

A restored call through a peer (docs/trunks.md, Limits) still counts
against the peer's max_calls_out: a restart hands no peer a fresh cap.
"""
import os
import re
import signal
import socket
import sqlite3
import time
import uuid

import pytest

from conftest import DOMAIN, Phone, cdrs, events, hval, import_users

USERS = {"1001": "correct-horse-1001", "1002": "battery-staple-1002"}


class ListeningPhone(Phone):
    """A TCP phone that also listens for connections at its Contact address
    (as baresip and Linphone do), so a server can reach it when its own
    connection is gone."""

    def __init__(self, server, user, password):
        super().__init__(server, user, password, "tcp")
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.lport = self.listener.getsockname()[1]

    @property
    def contact(self):
        return f"<sip:{self.user}@127.0.0.1:{self.lport};transport=tcp>"

    def accept(self, timeout=15):
        """Take the connection the server opens to us; read from it from now on."""
        self.listener.settimeout(timeout)
        conn, _ = self.listener.accept()
        self.sock.close()
        self.sock, self.buf = conn, b""

    def close(self):
        self.listener.close()
        super().close()


class OutboundPhone(Phone):
    """A phone with a +sip.instance and reg-id (RFC 5626): over TLS its
    Contact is its connection's address, which changes when it reconnects."""

    def __init__(self, server, user, password, instance):
        self.instance = instance
        super().__init__(server, user, password, "tls")

    @property
    def contact(self):
        return (f"<sip:{self.user}@127.0.0.1:{self.port};transport=tls;ob>"
                f';+sip.instance="<urn:uuid:{self.instance}>";reg-id=1')


def start_server(make_server, tmp_path, tls=False):
    s = make_server(start=False, tls=tls)
    import_users(s, USERS, tmp_path)
    return s.start()


def dialog_stored(s, call_id):
    with sqlite3.connect(os.path.join(s.state, "bastion.db")) as c:
        return c.execute("SELECT count(*) FROM dialogs WHERE call_id = ?",
                         (call_id,)).fetchone()[0]


def wait_until(pred, what, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout}s: {what}")


def call_up(a, b, callee="1002"):
    """a calls b, b answers, a ACKs. Returns (call_id, 200 headers, cseq, To tag)."""
    call_id, _, cseq = a.invite(callee)
    _, totag = b.answer()
    _, ok, _ = a.expect_status(200, "INVITE")
    a.in_dialog("ACK", ok, call_id, cseq, totag, a.tag)
    b.expect_request("ACK")
    return call_id, ok, cseq, totag


def restart(s, how):
    if how == "sigterm":
        assert s.stop() == 0
    else:
        s.proc.send_signal(signal.SIGKILL)
        s.proc.wait(timeout=30)
        s.log.close()
    s.start()
    s.wait_log("1 calls in progress restored", count=1)


def check_record(s, call_id):
    (rec,) = [r for r in cdrs(s, timeout=10) if r["call_id"] == call_id]
    assert rec["status"] == 200 and rec["hangup"] == "caller", rec
    assert rec["answer"] and rec["end"] > rec["answer"], rec
    wait_until(lambda: dialog_stored(s, call_id) == 0, "the dialog's row removed")


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_restored_tcp_callee_is_reached_at_its_contact(make_server, tmp_path, how):
    s = start_server(make_server, tmp_path)
    a = Phone(s, "1001", USERS["1001"], "udp")
    a.register()
    b = ListeningPhone(s, "1002", USERS["1002"])
    b.register()
    call_id, ok, cseq, totag = call_up(a, b)
    # the caller had its 200: the dialog is stored (group commit)
    assert dialog_stored(s, call_id) == 1
    restart(s, how)
    # b's connection died with the old run, and b says nothing since
    a.in_dialog("BYE", ok, call_id, cseq + 1, totag, a.tag)
    b.accept()
    _, bye, _ = b.expect_request("BYE", timeout=10)
    assert hval(bye, "Call-ID")[0] == call_id
    b.respond(bye, 200, "OK", totag)
    a.expect_status(200, "BYE", timeout=10)
    assert "reached at its contact tcp:127.0.0.1:%d" % b.lport in s.log_text()
    check_record(s, call_id)
    a.close()
    b.close()


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_restored_tls_callee_is_reached_on_its_new_flow(make_server, tmp_path, how):
    s = start_server(make_server, tmp_path, tls=True)
    a = Phone(s, "1001", USERS["1001"], "udp")
    a.register()
    instance = str(uuid.uuid4())
    b = OutboundPhone(s, "1002", USERS["1002"], instance)
    b.register()
    call_id, ok, cseq, totag = call_up(a, b)
    assert dialog_stored(s, call_id) == 1
    restart(s, how)
    b.close()
    # the phone sees its flow fail and registers a new one (RFC 5626 4.4.1)
    b2 = OutboundPhone(s, "1002", USERS["1002"], instance)
    _, hdrs, _ = b2.register()
    a.in_dialog("BYE", ok, call_id, cseq + 1, totag, a.tag)
    _, bye, _ = b2.expect_request("BYE", timeout=10)
    assert hval(bye, "Call-ID")[0] == call_id
    b2.respond(bye, 200, "OK", totag)
    a.expect_status(200, "BYE", timeout=10)
    check_record(s, call_id)
    a.close()
    b2.close()


def test_restored_tcp_caller_is_reached_at_its_contact(make_server, tmp_path):
    """The other direction: the caller was on TCP; after a kill the callee
    hangs up, and the server opens a connection to the caller's contact."""
    s = start_server(make_server, tmp_path)
    a = ListeningPhone(s, "1001", USERS["1001"])
    a.register()
    b = Phone(s, "1002", USERS["1002"], "udp")
    b.register()
    call_id, _, cseq = a.invite("1002")
    inv, totag = b.answer()
    _, ok, _ = a.expect_status(200, "INVITE")
    a.in_dialog("ACK", ok, call_id, cseq, totag, a.tag)
    b.expect_request("ACK")
    assert dialog_stored(s, call_id) == 1
    restart(s, "sigkill")
    b.in_dialog("BYE", inv, call_id, 1, a.tag, totag, from_me=False)
    a.accept()
    _, bye, _ = a.expect_request("BYE", timeout=10)
    a.respond(bye, 200, "OK", a.tag)
    b.expect_status(200, "BYE", timeout=10)
    assert "a restored call's caller reached at its contact tcp:127.0.0.1:%d" % a.lport \
        in s.log_text()
    (rec,) = [r for r in cdrs(s, timeout=10) if r["call_id"] == call_id]
    assert rec["status"] == 200 and rec["hangup"] == "callee", rec
    wait_until(lambda: dialog_stored(s, call_id) == 0, "the dialog's row removed")
    a.close()
    b.close()


def test_restored_outside_call_counts_against_the_peers_max_calls_out(make_server, tmp_path):
    """gw1 (SIPp) may carry one call at a time (max_calls_out = 1). 1001's
    call out is up; the server is killed and started again. The restored call
    still counts: 1002's call out gets 403 Outside Call Limit Reached with a
    fraud.limit event naming max_calls_out, and nothing reaches gw1. 1001's
    BYE reaches gw1 and writes the record; then gw1 takes a call again."""
    from test_emergency import sipp_psap
    from test_trunks import Gateway, call, kernel_port, sipp_done, trunk_conf
    port = kernel_port("127.0.0.2")
    conf = trunk_conf([("127.0.0.2", port)]).replace("[peer gw1]\n",
                                                     "[peer gw1]\nmax_calls_out = 1\n")
    s = make_server(conf, start=False)
    import_users(s, USERS, tmp_path)
    s.start()
    gw, log = sipp_psap(tmp_path, "127.0.0.2", port, "gateway_uas.xml",
                        ruri=r"^INVITE sip:\+12125550100@127\.0\.0\.2:" + str(port))
    try:
        a = Phone(s, "1001", USERS["1001"])
        cid = call(a, f"sip:+12125550100@{DOMAIN}")
        _, ok, _ = a.expect_status(200, "INVITE", timeout=20)
        totag = re.search(r";tag=([^;>\s]+)", hval(ok, "To")[0]).group(1)
        a.in_dialog("ACK", ok, cid, a.cseq, totag, a.tag)
        assert dialog_stored(s, cid) == 1
        # the ACK is relayed statelessly: gw1 must have it before the kill
        wait_until(lambda: b"\nACK sip:" in log.read_bytes(), "gw1 got the ACK")
        restart(s, "sigkill")

        b = Phone(s, "1002", USERS["1002"])
        call(b, f"sip:+12125550101@{DOMAIN}")
        start, _, _ = b.expect_status(403, "INVITE", timeout=10)
        assert "Outside Call Limit Reached" in start
        assert any("max_calls_out" in e["reason"] for e in events(s, "fraud.limit"))

        a.in_dialog("BYE", ok, cid, a.cseq + 1, totag, a.tag)
        a.expect_status(200, "BYE", timeout=10)
        sipp_done(gw, tmp_path, "127.0.0.2")
        gw = None
        assert log.read_bytes().count(b"\nINVITE sip:") == 1  # 1002's never reached it
    finally:
        if gw is not None and gw.poll() is None:
            gw.kill()
            gw.wait()
    (rec,) = [r for r in cdrs(s, timeout=10) if r["call_id"] == cid]
    assert rec["status"] == 200 and rec["hangup"] == "caller" and rec["peer"] == "gw1", rec
    # the record released the count: gw1 takes the next call
    g = Gateway("127.0.0.2", port)  # where SIPp was
    c = Phone(s, "1002", USERS["1002"])
    call(c, f"sip:+12125550102@{DOMAIN}")
    _, h, _ = g.expect_invite(timeout=10)
    g.respond(s, h, 486, "Busy Here")
    c.expect_status(486, "INVITE", timeout=10)
    g.close()
