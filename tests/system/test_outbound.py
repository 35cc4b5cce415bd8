"""RFC 5626 flows with scripted phones over TCP and TLS: a device (its
+sip.instance and reg-id) has one binding whatever contact it builds;
unregistering by instance; a binding whose connection closed is not forked
to and is removed after [registrar] flow_grace unless the phone connects
and registers again; CRLF CRLF keep-alives answered with CRLF (RFC 5626
4.4.1); Require: outbound and Flow-Timer for phones that asked for outbound.
The same with Linphone is in test_phones.py."""
import re
import time
import uuid

import pytest

from conftest import DOMAIN, Phone, digest_header, hval, import_users, run_cli

USERS = {"1001": "correct-horse-1001", "1002": "battery-staple-1002"}
INSTANCE = "<urn:uuid:" + str(uuid.uuid4()) + ">"


class FlowPhone(Phone):
    """A Phone whose contact carries +sip.instance and (optionally) reg-id,
    and which may ask for outbound."""

    def __init__(self, server, user, transport="tcp", instance=INSTANCE, reg_id=1,
                 outbound=True):
        super().__init__(server, user, USERS[user], transport)
        self.instance, self.reg_id, self.outbound = instance, reg_id, outbound

    @property
    def contact(self):
        c = f"<sip:{self.user}@127.0.0.1:{self.port};transport={self.tp}>"
        c += f';+sip.instance="{self.instance}"'
        if self.reg_id:
            c += f";reg-id={self.reg_id}"
        return c

    def register(self, expires=3600, code=200):
        call_id = uuid.uuid4().hex
        uri, to = f"sip:{DOMAIN}", f"sip:{self.user}@{DOMAIN}"
        extra = [f"Expires: {expires}"] + (["Supported: outbound, path"] if self.outbound else [])
        self.cseq += 1
        self.send(self.request("REGISTER", uri, to, call_id, self.cseq, extra))
        _, hdrs, _ = self.expect_status(401, "REGISTER")
        chal = {}
        for v in hval(hdrs, "WWW-Authenticate"):
            params = dict((k, a or b) for k, a, b in
                          re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]+))', v[7:]))
            chal[params.get("algorithm", "MD5")] = params
        auth = digest_header(self.user, self.password, chal["SHA-256"], "REGISTER", uri,
                             "SHA-256")
        self.cseq += 1
        self.send(self.request("REGISTER", uri, to, call_id, self.cseq, extra + [auth]))
        return self.expect_status(code, "REGISTER")


@pytest.fixture
def flows(make_server, tmp_path):
    def make(conf=""):
        s = make_server(conf, tls=True)
        import_users(s, USERS, tmp_path)
        return s  # the first REGISTER retries until the users are loaded
    return make


def contacts(s, user="1001"):
    out = run_cli("--state", s.state, "reg", "list", user).stdout
    return sorted(set(re.findall(rf"sip:{user}@127\.0\.0\.1:(\d+)", out)))


def wait(pred, what, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"not true after {timeout}s: {what}")


def register_when_ready(p, **kw):
    """The first REGISTER may race the server's user reload: retry briefly."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return p.register(**kw)
        except AssertionError:
            if time.monotonic() > deadline:
                raise


@pytest.mark.parametrize("transport", ["tcp", "tls"])
def test_same_instance_and_reg_id_replaces(flows, transport):
    s = flows()
    a = FlowPhone(s, "1001", transport)
    _, ok, _ = register_when_ready(a)
    assert hval(ok, "Require") == ["outbound"]
    assert hval(ok, "Flow-Timer") == ["120"]
    wait(lambda: contacts(s) == [str(a.port)], "first binding stored")
    # the phone reconnects (new connection, new port): its binding moves
    b = FlowPhone(s, "1001", transport)
    _, ok, _ = b.register()
    assert len(hval(ok, "Contact")) == 1 and str(b.port) in hval(ok, "Contact")[0]
    wait(lambda: contacts(s) == [str(b.port)], "binding replaced")
    # another flow of the same device (reg-id 2) is a second binding
    c = FlowPhone(s, "1001", transport, reg_id=2)
    _, ok, _ = c.register()
    assert len(hval(ok, "Contact")) == 2
    # unregister by instance under a contact never registered: flow 1 goes
    d = FlowPhone(s, "1001", transport)
    _, ok, _ = d.register(expires=0)
    assert len(hval(ok, "Contact")) == 1 and str(c.port) in hval(ok, "Contact")[0]
    for p in (a, b, c, d):
        p.close()


def test_no_outbound_no_flow_timer(flows):
    s = flows()
    a = FlowPhone(s, "1001", "tcp", outbound=False)
    _, ok, _ = register_when_ready(a)
    assert hval(ok, "Require") == [] and hval(ok, "Flow-Timer") == []
    b = FlowPhone(s, "1001", "tcp", instance="<urn:uuid:" + str(uuid.uuid4()) + ">", reg_id=0)
    _, ok, _ = b.register()
    assert hval(ok, "Require") == [] and hval(ok, "Flow-Timer") == []


def test_closed_flow_not_forked_then_removed(flows):
    """[registrar] flow_grace = 2: the callee's TCP connection closes; a call
    to it finds nobody (480) at once, and the binding is gone from the
    store after the grace."""
    s = flows("[registrar]\nflow_grace = 2")
    callee = FlowPhone(s, "1002", "tcp")
    register_when_ready(callee)
    wait(lambda: contacts(s, "1002") == [str(callee.port)], "callee bound")
    callee.close()
    caller = Phone(s, "1001", USERS["1001"], "udp")
    register_when_ready(caller)
    caller.invite("1002")
    caller.expect_status(480, "INVITE")
    wait(lambda: contacts(s, "1002") == [], "closed flow removed after the grace")


def test_reconnect_within_grace_keeps_binding(flows):
    s = flows("[registrar]\nflow_grace = 3600")
    callee = FlowPhone(s, "1002", "tcp")
    register_when_ready(callee)
    callee.close()
    again = FlowPhone(s, "1002", "tcp")
    again.register()
    wait(lambda: contacts(s, "1002") == [str(again.port)], "one binding, the new flow")
    caller = Phone(s, "1001", USERS["1001"], "udp")
    register_when_ready(caller)
    caller.invite("1002")
    caller.expect_status(100, "INVITE")
    _, inv, _ = again.expect_request("INVITE")
    assert hval(inv, "Call-ID")


@pytest.mark.parametrize("transport", ["tcp", "tls"])
def test_double_crlf_keepalive_answered(flows, transport):
    """RFC 5626 4.4.1: CRLF CRLF is a ping, CRLF the pong; the connection
    stays usable."""
    s = flows()
    p = FlowPhone(s, "1001", transport)
    for _ in range(3):
        p.sock.sendall(b"\r\n\r\n")
        p.sock.settimeout(5)
        assert p.sock.recv(16) == b"\r\n"
    register_when_ready(p)
