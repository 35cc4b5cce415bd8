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
"""
import os
import signal
import socket
import sqlite3
import time
import uuid

import pytest

from conftest import DOMAIN, Phone, cdrs, hval, import_users

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
