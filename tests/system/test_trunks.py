"""Calls beyond the building (issue 12, docs/trunks.md): gateways on loopback
addresses of their own (127.0.0.2, 127.0.0.3; ports from the kernel), SIPp as
the gateway's UAS for whole calls, and small Python gateways where a test
must see exactly what arrives (or that nothing does).

- a phone calls out: the gateway gets the number in E.164 with the caller's
  DID asserted (trusted peer), the call connects and ends;
- failover: the first gateway answers 503, the second takes the call;
- every number form normalises to the same E.164 number at the gateway;
- class of service: international and premium refused with 403 and
  call.class_denied until granted, and nothing reaches the gateway;
- the per-user cap on outside calls (fraud.limit);
- inbound from the gateway: not challenged, to the DID's user only; no
  transit to a number that is not ours;
- a non-peer claiming to be the gateway is challenged like anyone;
- a phone naming the gateway in the Request-URI or a Route is refused;
- bad peer configuration refused at startup and on SIGHUP, with file:line.
"""
import html
import os
import re
import signal
import socket
import subprocess
import time
import uuid

import pytest

from conftest import (DOMAIN, Phone, cdrs, digest_header, events, hval, import_users,
                      parse_msg, run_cli)

USERS = {"1001": "correct-horse-1001", "1002": "battery-staple-1002"}
SCEN = os.path.join(os.path.dirname(__file__), "scenarios")


def kernel_port(ip):
    """A UDP port on ip, from the kernel."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


class Gateway:
    """A gateway (or an impostor) on its own UDP socket: sees what Bastion
    sends it, answers, and places calls of its own."""

    def __init__(self, ip, port=0):
        self.ip = ip
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((ip, port))  # 0: from the kernel
        self.port = self.sock.getsockname()[1]
        self.queue = []
        self.seen = set()   # Call-IDs of INVITEs taken: their retransmissions are no news

    def close(self):
        self.sock.close()

    def _read(self, timeout):
        self.sock.settimeout(timeout)
        try:
            data, _ = self.sock.recvfrom(70000)
        except (socket.timeout, BlockingIOError):
            return
        self.queue.append(data)

    def expect(self, pred, timeout=5.0, what="message"):
        deadline = time.monotonic() + timeout
        while True:
            for i, data in enumerate(self.queue):
                start, hdrs, body = parse_msg(data)
                if pred(start, hdrs):
                    del self.queue[i]
                    return start, hdrs, body
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"gateway {self.ip}: no {what} within {timeout}s; got "
                                     f"{[parse_msg(q)[0] for q in self.queue]}")
            self._read(min(left, 0.2))

    def expect_invite(self, timeout=5.0):
        got = self.expect(lambda s, h: s.startswith("INVITE ") and
                          hval(h, "Call-ID")[0] not in self.seen, timeout, "INVITE")
        self.seen.add(hval(got[1], "Call-ID")[0])
        return got

    def no_invite(self, seconds=1.0):
        """Assert no new INVITE arrives for a while."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._read(0.1)
        got = [parse_msg(q)[0] for q in self.queue if parse_msg(q)[0].startswith("INVITE ")
               and hval(parse_msg(q)[1], "Call-ID")[0] not in self.seen]
        assert not got, got

    def respond(self, server, hdrs, code, reason):
        lines = [f"SIP/2.0 {code} {reason}"]
        lines += [f"Via: {v}" for v in hval(hdrs, "Via")]
        lines.append(f"From: {hval(hdrs, 'From')[0]}")
        lines.append(f"To: {hval(hdrs, 'To')[0]};tag=gw{uuid.uuid4().hex[:6]}")
        lines += [f"Call-ID: {hval(hdrs, 'Call-ID')[0]}", f"CSeq: {hval(hdrs, 'CSeq')[0]}",
                  "Content-Length: 0"]
        self.sock.sendto(("\r\n".join(lines) + "\r\n\r\n").encode(), ("127.0.0.1", server.port))

    def invite(self, server, number, extra=()):
        """An INVITE from this address to sip:number@domain; returns the Call-ID."""
        call_id = uuid.uuid4().hex + "@gw"
        lines = [f"INVITE sip:{number}@{DOMAIN};user=phone SIP/2.0",
                 f"Via: SIP/2.0/UDP {self.ip}:{self.port};branch=z9hG4bK{uuid.uuid4().hex}",
                 "Max-Forwards: 70", f"From: <sip:+12125550100@{self.ip}>;tag=gwcaller",
                 f"To: <sip:{number}@{DOMAIN}>", f"Call-ID: {call_id}", "CSeq: 1 INVITE",
                 f"Contact: <sip:gw@{self.ip}:{self.port}>", *extra, "Content-Length: 0"]
        self.sock.sendto(("\r\n".join(lines) + "\r\n\r\n").encode(), ("127.0.0.1", server.port))
        return call_id

    def expect_status(self, code, timeout=5.0):
        return self.expect(lambda s, h: s.startswith(f"SIP/2.0 {code} "), timeout, str(code))


def call(phone, ruri, extra=()):
    """The phone's INVITE to a whole Request-URI (tel:, sip: with a number),
    through the 407; returns the Call-ID."""
    call_id = uuid.uuid4().hex + "@test"
    to = ruri
    phone.cseq += 1
    first = "z9hG4bK" + uuid.uuid4().hex
    sdp = ["Content-Type: application/sdp"]
    phone.send(phone.request("INVITE", ruri, to, call_id, phone.cseq, list(extra) + sdp,
                             b"v=0\r\n", branch=first))
    _, hdrs, _ = phone.expect_status(407, "INVITE")
    tag = re.search(r";tag=([^;>\s]+)", hval(hdrs, "To")[0]).group(1)
    phone.send(phone.request("ACK", ruri, to, call_id, phone.cseq, [], b"", branch=first,
                             to_tag=tag))
    chal = {}
    for v in hval(hdrs, "Proxy-Authenticate"):
        params = dict((k, a or b) for k, a, b in
                      re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]+))', v[7:]))
        chal[params.get("algorithm", "MD5")] = params
    auth = digest_header(phone.user, phone.password, chal["SHA-256"], "INVITE", ruri,
                         "SHA-256").replace("Authorization:", "Proxy-Authorization:")
    phone.cseq += 1
    phone.send(phone.request("INVITE", ruri, to, call_id, phone.cseq,
                             list(extra) + sdp + [auth], b"v=0\r\n"))
    return call_id


def trunk_conf(gws, extra="", ping=0):
    """[peer gwN] sections for Gateway objects or (ip, port) pairs; not pinged
    unless ping (seconds) is given."""
    out = []
    for i, g in enumerate(gws, 1):
        ip, port = (g.ip, g.port) if isinstance(g, Gateway) else g
        out.append(f"[peer gw{i}]\naddress = udp:{ip}:{port}\nrole = gateway\n"
                   f"trust_pai = yes\nping_interval = {ping}\n")
    out.append("[dids]\n+15551230001 = 1001\n")
    return "\n".join(out) + extra


@pytest.fixture
def users_of(tmp_path):
    def add(server):
        import_users(server, USERS, tmp_path)
        time.sleep(0.6)  # the server reloads users within a second
        return server
    return add


def sipp_gateway(tmp_path, ip, port, scenario, ruri=".", pai=".", calls=1, trace=False):
    """SIPp as a gateway on ip:port for `calls` calls; with trace, every
    message it sees goes to tmp_path/msgs.IP.log (sipp_invites reads it)."""
    text = open(os.path.join(SCEN, scenario)).read()
    text = text.replace("@RURI@", html.escape(ruri)).replace("@PAI@", html.escape(pai))
    path = tmp_path / f"{scenario}.{ip}.xml"
    path.write_text(text)
    extra = ["-trace_msg", "-message_file", str(tmp_path / f"msgs.{ip}.log")] if trace else []
    proc = subprocess.Popen(["sipp", "-sf", str(path), "-i", ip, "-p", str(port),
                             "-m", str(calls), *extra,
                             "-t", "u1", "-nostdin", "-timeout", "60s", "-timeout_error",
                             "-trace_err", "-error_file", str(tmp_path / f"err.{ip}.log")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path)
    # ready when it holds its port
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind((ip, port))
            except OSError:
                return proc
        assert proc.poll() is None, proc.communicate()[0][-1000:]
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("sipp did not bind its port")


def sipp_done(proc, tmp_path, ip):
    try:
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = tmp_path / f"err.{ip}.log"
    assert proc.returncode == 0, out[-1500:] + (err.read_text()[-1500:] if err.exists() else "")


def sipp_invites(tmp_path, ip):
    """The Call-IDs of the INVITEs a traced SIPp gateway received (each
    once, whatever was retransmitted)."""
    path = tmp_path / f"msgs.{ip}.log"
    text = path.read_text(errors="replace") if path.exists() else ""
    got = set()
    for block in re.split(r"^-{10,} [^\n]*\n", text, flags=re.M):
        lines = [ln.strip() for ln in block.splitlines()]
        first = next((ln for ln in lines[1:] if ln), "")
        if lines and "message received" in lines[0] and first.startswith("INVITE "):
            got.update(ln.split(":", 1)[1].strip() for ln in lines
                       if ln.lower().startswith("call-id:"))
    return got


def final_response(phone, timeout=15.0):
    """The first final response to an INVITE the phone gets (any status)."""
    return phone.expect(lambda st, h: re.match(r"SIP/2\.0 [2-6]\d\d ", st) is not None and
                        hval(h, "CSeq")[0].endswith(" INVITE"), timeout, "final to INVITE")


def finish_call(phone, hdrs_ok, call_id):
    """ACK the 200 and hang up with BYE; expect the BYE's 200."""
    totag = re.search(r";tag=([^;>\s]+)", hval(hdrs_ok, "To")[0]).group(1)
    phone.in_dialog("ACK", hdrs_ok, call_id, phone.cseq, totag, phone.tag)
    phone.in_dialog("BYE", hdrs_ok, call_id, phone.cseq + 1, totag, phone.tag)
    phone.expect_status(200, "BYE")


def test_call_out_through_a_gateway(make_server, users_of, tmp_path):
    port = kernel_port("127.0.0.2")
    s = users_of(make_server(trunk_conf([("127.0.0.2", port)])))
    gw = sipp_gateway(tmp_path, "127.0.0.2", port, "gateway_uas.xml",
                      ruri=r"^INVITE sip:\+12125550100@127\.0\.0\.2:" + str(port),
                      pai=r"P-Asserted-Identity: <tel:\+15551230001>")
    a = Phone(s, "1001", USERS["1001"])
    cid = call(a, f"sip:+1-212-555-0100@{DOMAIN};user=phone")
    _, hdrs, _ = a.expect_status(200, "INVITE", timeout=10)
    finish_call(a, hdrs, cid)
    sipp_done(gw, tmp_path, "127.0.0.2")
    recs = cdrs(s, wait_for=1)
    assert any(r["status"] == 200 and r["auth_user"] == "1001" for r in recs), recs
    assert "outside call +12125550100 (national) by 1001 to peer gw1" in s.log_text()


def test_failover_when_the_first_gateway_answers_503(make_server, users_of, tmp_path):
    p1, p2 = kernel_port("127.0.0.2"), kernel_port("127.0.0.3")
    s = users_of(make_server(trunk_conf([("127.0.0.2", p1), ("127.0.0.3", p2)],
                                        "\n[routes]\n+1 = gw1, gw2\n")))
    down = sipp_gateway(tmp_path, "127.0.0.2", p1, "gateway_503.xml")
    up = sipp_gateway(tmp_path, "127.0.0.3", p2, "gateway_uas.xml",
                      ruri=r"^INVITE sip:\+12125550100@127\.0\.0\.3:" + str(p2))
    a = Phone(s, "1001", USERS["1001"])
    cid = call(a, f"sip:+12125550100@{DOMAIN}")
    _, hdrs, _ = a.expect_status(200, "INVITE", timeout=15)
    finish_call(a, hdrs, cid)
    sipp_done(down, tmp_path, "127.0.0.2")
    sipp_done(up, tmp_path, "127.0.0.3")


def test_failover_counts_against_the_peer_that_took_the_call(make_server, users_of, tmp_path):
    """A serial call that fails over counts against the peer it moved to
    (docs/trunks.md, Limits). gw1 (SIPp) answers every INVITE 503 and may
    carry many calls; gw2 (SIPp) answers 200 and may carry one. Call 1 fails
    over to gw2 and connects, and then counts against gw2, not gw1: call 2
    gets gw1's 503 and never reaches gw2, which is at its cap (so not among
    call 2's peers at all)."""
    p1, p2 = kernel_port("127.0.0.2"), kernel_port("127.0.0.3")
    conf = trunk_conf([("127.0.0.2", p1), ("127.0.0.3", p2)],
                      "\n[routes]\n+1 = gw1, gw2\n[dialplan]\nmax_calls_per_user = 0\n")
    conf = conf.replace("[peer gw1]\n", "[peer gw1]\nmax_calls_out = 100\n")
    conf = conf.replace("[peer gw2]\n", "[peer gw2]\nmax_calls_out = 1\n")
    s = users_of(make_server(conf))
    down = sipp_gateway(tmp_path, "127.0.0.2", p1, "gateway_503.xml", calls=2)
    up = sipp_gateway(tmp_path, "127.0.0.3", p2, "gateway_uas.xml", trace=True)
    a = Phone(s, "1001", USERS["1001"])
    cid1 = call(a, f"sip:+12125550100@{DOMAIN}")
    _, ok1, _ = a.expect_status(200, "INVITE", timeout=15)
    b = Phone(s, "1001", USERS["1001"])
    cid2 = call(b, f"sip:+12125550101@{DOMAIN}")
    start, hdrs2, _ = final_response(b)
    assert not start.startswith("SIP/2.0 2"), start
    assert start.startswith("SIP/2.0 503 "), start      # gw1's answer: the best one tried
    # the records: call 2 failed at gw1; call 1 is gw2's and ends cleanly
    finish_call(a, ok1, cid1)
    sipp_done(down, tmp_path, "127.0.0.2")
    sipp_done(up, tmp_path, "127.0.0.3")
    assert sipp_invites(tmp_path, "127.0.0.3") == {cid1}   # its whole log, once it exited
    recs = {r["call_id"]: r for r in cdrs(s, wait_for=2, timeout=15)}
    assert recs[cid1]["status"] == 200 and recs[cid1]["peer"] == "gw2", recs[cid1]
    assert recs[cid2]["status"] == 503 and recs[cid2]["peer"] == "gw1", recs[cid2]


def test_failover_skips_a_peer_that_filled_up_meanwhile(make_server, users_of):
    """The cap is asked again when a call fails over (proxy_ops.failover):
    calls 1 and 2 both ring at gw1 while gw2 (max_calls_out 1) is free; gw1
    then answers call 1 503 and it moves to gw2, which takes it; when gw1
    answers call 2 503, gw2 is full: it is not tried, and the caller gets
    gw1's 503."""
    g1, g2 = Gateway("127.0.0.2"), Gateway("127.0.0.3")
    conf = trunk_conf([g1, g2], "\n[routes]\n+1 = gw1, gw2\n[dialplan]\n"
                      "max_calls_per_user = 0\n")
    conf = conf.replace("[peer gw2]\n", "[peer gw2]\nmax_calls_out = 1\n")
    s = users_of(make_server(conf))
    a, b = Phone(s, "1001", USERS["1001"]), Phone(s, "1001", USERS["1001"])
    cid1 = call(a, f"sip:+12125550100@{DOMAIN}")
    _, h1, _ = g1.expect_invite(timeout=10)
    g1.respond(s, h1, 180, "Ringing")
    cid2 = call(b, f"sip:+12125550101@{DOMAIN}")
    _, h2, _ = g1.expect_invite(timeout=10)
    g1.respond(s, h2, 180, "Ringing")
    assert hval(h1, "Call-ID")[0] != hval(h2, "Call-ID")[0]
    g1.respond(s, h1, 503, "Service Unavailable")
    _, h1b, _ = g2.expect_invite(timeout=10)
    g2.respond(s, h1b, 180, "Ringing")
    g1.respond(s, h2, 503, "Service Unavailable")
    start, _, _ = final_response(b)
    assert start.startswith("SIP/2.0 503 Service Unavailable"), start
    s.wait_log(f"call {cid2} not failed over to peer gw2: no room under its max_calls_out",
               timeout=15)
    g2.no_invite(0.5)
    # gw2 ends call 1: both records, each naming the peer it ended at
    g2.respond(s, h1b, 486, "Busy Here")
    a.expect_status(486, "INVITE", timeout=10)
    recs = {r["call_id"]: r for r in cdrs(s, wait_for=2, timeout=15)}
    assert recs[cid1]["status"] == 486 and recs[cid1]["peer"] == "gw2", recs[cid1]
    assert recs[cid2]["status"] == 503 and recs[cid2]["peer"] == "gw1", recs[cid2]
    g1.close()
    g2.close()


NUMBER_FORMS = [
    (f"sip:+12125550100@{DOMAIN}", "+12125550100"),
    (f"sip:%2B12125550100@{DOMAIN}", "+12125550100"),
    (f"sip:+1(212)555-0100@{DOMAIN};user=phone", "+12125550100"),
    (f"sip:1.212.555.0100@{DOMAIN}", "+12125550100"),
    (f"sip:2125550100@{DOMAIN}", "+12125550100"),
    ("tel:+1-212-555-0100", "+12125550100"),
    (f"sip:011442079460000@{DOMAIN}", "+442079460000"),
]


def test_every_number_form_reaches_the_gateway_in_e164(make_server, users_of):
    gw = Gateway("127.0.0.2")
    s = users_of(make_server(trunk_conf([gw], "\n[calling]\n1001 = international\n")))
    for ruri, e164 in NUMBER_FORMS:
        a = Phone(s, "1001", USERS["1001"])
        call(a, ruri)
        start, hdrs, _ = gw.expect_invite()
        assert start.startswith(f"INVITE sip:{e164}@127.0.0.2:{gw.port};user=phone "), \
            (ruri, start)
        gw.respond(s, hdrs, 486, "Busy Here")
        a.expect_status(486, "INVITE")
        a.close()
    gw.close()


def test_outside_line_prefix(make_server, users_of):
    gw = Gateway("127.0.0.2")
    s = users_of(make_server(trunk_conf([gw], "\n[dialplan]\noutside_prefix = 9\n"
                                              "area_code = 212\n")))
    for dialed in ("912125550100", "95550100"):
        a = Phone(s, "1001", USERS["1001"])
        call(a, f"sip:{dialed}@{DOMAIN}")
        start, hdrs, _ = gw.expect_invite()
        assert start.startswith("INVITE sip:+12125550100@"), (dialed, start)
        gw.respond(s, hdrs, 486, "Busy Here")
        a.expect_status(486, "INVITE")
        a.close()
    # without the 9 it is an extension, and there is no such user
    a = Phone(s, "1001", USERS["1001"])
    call(a, f"sip:2125550100@{DOMAIN}")
    a.expect_status(404, "INVITE")
    gw.no_invite(0.5)
    gw.close()


@pytest.mark.parametrize("number,cls", [("+442079460000", "international"),
                                        ("+18765550100", "international"),
                                        ("+19005550100", "premium")])
def test_class_of_service_refusals(make_server, users_of, number, cls):
    gw = Gateway("127.0.0.2")
    s = users_of(make_server(trunk_conf([gw])))
    a = Phone(s, "1001", USERS["1001"])
    call(a, f"sip:{number}@{DOMAIN}")
    start, _, _ = a.expect_status(403, "INVITE")
    assert "Calling Class Not Allowed" in start
    gw.no_invite(1.0)
    evs = events(s, "call.class_denied")
    assert evs and cls in evs[-1]["reason"] and evs[-1]["user"] == "1001", evs
    # granted (stored with the user: the server sees it without SIGHUP)
    if cls == "international":
        before = s.log_text().count("users reloaded from the store")
        r = run_cli("--state", s.state, "user", "set", "1001", "--calling", "international")
        assert r.returncode == 0, r.stderr
        s.wait_log("users reloaded from the store", timeout=10, count=before + 1)
        a2 = Phone(s, "1001", USERS["1001"])
        call(a2, f"sip:{number}@{DOMAIN}")
        _, hdrs, _ = gw.expect_invite()
        gw.respond(s, hdrs, 486, "Busy Here")
        a2.expect_status(486, "INVITE")
    gw.close()


def test_per_user_cap_on_outside_calls(make_server, users_of):
    gw = Gateway("127.0.0.2")
    s = users_of(make_server(trunk_conf([gw], "\n[dialplan]\nmax_calls_per_user = 1\n")))
    a = Phone(s, "1001", USERS["1001"])
    call(a, f"sip:+12125550100@{DOMAIN}")
    _, first, _ = gw.expect_invite()
    gw.respond(s, first, 180, "Ringing")
    # the first call rings at the gateway; a second one is over the cap
    b = Phone(s, "1001", USERS["1001"])
    call(b, f"sip:+12125550101@{DOMAIN}")
    start, _, _ = b.expect_status(403, "INVITE")
    assert "Outside Call Limit Reached" in start
    gw.no_invite(0.5)
    assert events(s, "fraud.limit"), "no fraud.limit event"
    # the first call ends: the cap has room again
    gw.respond(s, first, 486, "Busy Here")
    a.expect_status(486, "INVITE")
    c = Phone(s, "1001", USERS["1001"])
    call(c, f"sip:+12125550102@{DOMAIN}")
    _, third, _ = gw.expect_invite()
    gw.respond(s, third, 486, "Busy Here")
    c.expect_status(486, "INVITE")
    gw.close()


def test_peer_caps(make_server, users_of):
    """max_calls_out: a peer at its cap is skipped for the next one, and with
    every peer of the route at its cap the call is refused; max_calls_in: a
    peer's calls in beyond its cap get 503."""
    g1, g2 = Gateway("127.0.0.2"), Gateway("127.0.0.3")
    conf = trunk_conf([g1, g2], "\n[dialplan]\nmax_calls_per_user = 0\n")
    conf = conf.replace("[peer gw1]\n", "[peer gw1]\nmax_calls_out = 1\nmax_calls_in = 1\n")
    conf = conf.replace("[peer gw2]\n", "[peer gw2]\nmax_calls_out = 1\n")
    s = users_of(make_server(conf))
    a = Phone(s, "1001", USERS["1001"])
    call(a, f"sip:+12125550100@{DOMAIN}")
    _, h1, _ = g1.expect_invite()
    g1.respond(s, h1, 180, "Ringing")
    b = Phone(s, "1001", USERS["1001"])
    call(b, f"sip:+12125550101@{DOMAIN}")
    _, h2, _ = g2.expect_invite()          # gw1 is full: gw2 takes it
    g2.respond(s, h2, 180, "Ringing")
    c = Phone(s, "1001", USERS["1001"])
    call(c, f"sip:+12125550102@{DOMAIN}")
    start, _, _ = c.expect_status(403, "INVITE")
    assert "Outside Call Limit Reached" in start
    g1.no_invite(0.3)
    g2.no_invite(0.3)
    assert any("max_calls_out" in e["reason"] for e in events(s, "fraud.limit"))
    # calls in: gw1 may hold one; its first rings at 1001, the second is refused
    callee = Phone(s, "1001", USERS["1001"])
    callee.register()
    g1.invite(s, "+15551230001")
    _, inv, _ = callee.expect_request("INVITE")
    callee.respond(inv, 180, "Ringing", "callee")
    # (calls out and calls in are counted apart: the call out to gw1 is no call in)
    g1.invite(s, "+15551230001")
    g1.expect_status(503)
    assert any("max_calls_in" in e["reason"] for e in events(s, "fraud.limit"))
    for g, h in ((g1, h1), (g2, h2)):
        g.respond(s, h, 486, "Busy Here")
    a.expect_status(486, "INVITE")
    b.expect_status(486, "INVITE")
    callee.respond(inv, 486, "Busy Here", "callee")
    g1.expect_status(486)
    g1.close()
    g2.close()


def test_options_ping_marks_a_peer_down_and_up(make_server, users_of):
    """A peer that stops answering OPTIONS is marked down (peer.down) after
    the ping's transaction times out (timer F, 32 s), calls skip it for the
    next peer; when it answers again it is up (peer.up)."""
    g1, g2 = Gateway("127.0.0.2"), Gateway("127.0.0.3")
    s = users_of(make_server(trunk_conf([g1, g2], "\n[routes]\n+1 = gw1, gw2\n", ping=1)))
    # g1 answers a ping, then goes silent
    _, opt, _ = g1.expect(lambda st, h: st.startswith("OPTIONS "), timeout=10, what="OPTIONS")
    g1.respond(s, opt, 200, "OK")
    deadline = time.monotonic() + 90
    while not events(s, "peer.down") and time.monotonic() < deadline:
        g1._read(0.5)
        g2._read(0.1)
        for g in (g2,):   # gw2 keeps answering its pings
            for q in [q for q in g.queue if q.startswith(b"OPTIONS ")]:
                g.queue.remove(q)
                g.respond(s, parse_msg(q)[1], 200, "OK")
    down = events(s, "peer.down")
    assert down and down[0]["user"] == "gw1", down
    assert not [e for e in down if e["user"] == "gw2"]
    g1.queue.clear()
    a = Phone(s, "1001", USERS["1001"])
    call(a, f"sip:+12125550100@{DOMAIN}")
    _, h2, _ = g2.expect_invite()            # straight to gw2
    g1.no_invite(0.3)
    g2.respond(s, h2, 486, "Busy Here")
    a.expect_status(486, "INVITE")
    # g1 answers again
    _, opt, _ = g1.expect(lambda st, h: st.startswith("OPTIONS "), timeout=10, what="OPTIONS")
    g1.respond(s, opt, 200, "OK")
    deadline = time.monotonic() + 10
    while not events(s, "peer.up") and time.monotonic() < deadline:
        time.sleep(0.1)
    up = events(s, "peer.up")
    assert up and up[0]["user"] == "gw1", up
    g1.close()
    g2.close()


def test_inbound_from_the_gateway_by_did_only(make_server, users_of):
    gw = Gateway("127.0.0.2")
    s = users_of(make_server(trunk_conf([gw])))
    b = Phone(s, "1001", USERS["1001"])
    b.register()
    # not challenged, reaches 1001 through its DID, with the trusted PAI kept
    gw.invite(s, "+15551230001", ["P-Asserted-Identity: <tel:+12125550100>"])
    start, hdrs, _ = b.expect_request("INVITE")
    assert start.startswith(f"INVITE sip:1001@127.0.0.1:{b.port}"), start
    assert hval(hdrs, "P-Asserted-Identity") == ["<tel:+12125550100>"]
    b.respond(hdrs, 486, "Busy Here", "callee")
    gw.expect_status(486)
    # no transit: a number that is not one of our DIDs goes nowhere
    gw.invite(s, "+442079460000")
    gw.expect_status(404)
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        b._read(0.1)
    assert not [q for q in b.queue if q.startswith(b"INVITE ")]


def test_untrusted_peer_identity_removed(make_server, users_of):
    gw = Gateway("127.0.0.2")
    conf = trunk_conf([gw]).replace("trust_pai = yes", "trust_pai = no")
    s = users_of(make_server(conf))
    b = Phone(s, "1001", USERS["1001"])
    b.register()
    gw.invite(s, "+15551230001", ["P-Asserted-Identity: <tel:+12125550100>"])
    _, hdrs, _ = b.expect_request("INVITE")
    assert hval(hdrs, "P-Asserted-Identity") == []
    b.respond(hdrs, 486, "Busy Here", "callee")
    gw.expect_status(486)
    # and our calls out to it carry no assertion either
    a = Phone(s, "1001", USERS["1001"])
    call(a, f"sip:+12125550100@{DOMAIN}")
    _, out, _ = gw.expect_invite()
    assert hval(out, "P-Asserted-Identity") == []
    gw.respond(s, out, 486, "Busy Here")
    a.expect_status(486, "INVITE")


def test_non_peer_impersonating_the_gateway_is_challenged(make_server, users_of):
    gw = Gateway("127.0.0.2")
    s = users_of(make_server(trunk_conf([gw])))
    b = Phone(s, "1001", USERS["1001"])
    b.register()
    impostor = Gateway("127.0.0.5")
    # From, Via and Contact all say the gateway; the source address does not
    call_id = uuid.uuid4().hex
    lines = [f"INVITE sip:+15551230001@{DOMAIN} SIP/2.0",
             f"Via: SIP/2.0/UDP 127.0.0.2:{gw.port};branch=z9hG4bK{uuid.uuid4().hex};rport",
             "Max-Forwards: 70", f"From: <sip:+12125550100@127.0.0.2>;tag=x",
             f"To: <sip:+15551230001@{DOMAIN}>", f"Call-ID: {call_id}", "CSeq: 1 INVITE",
             f"Contact: <sip:gw@127.0.0.2:{gw.port}>",
             "P-Asserted-Identity: <tel:+12125550100>", "Content-Length: 0"]
    impostor.sock.sendto(("\r\n".join(lines) + "\r\n\r\n").encode(), ("127.0.0.1", s.port))
    impostor.expect_status(407)
    b.nothing(0.7)
    impostor.close()
    gw.close()


@pytest.mark.parametrize("how", ["ruri", "route"])
def test_phone_cannot_reach_the_gateway_directly(make_server, users_of, how):
    gw = Gateway("127.0.0.2")
    s = users_of(make_server(trunk_conf([gw], "\n[calling]\n1001 = premium\n")))
    a = Phone(s, "1001", USERS["1001"])
    if how == "ruri":
        call(a, f"sip:+19005550100@127.0.0.2:{gw.port}")
    else:
        call(a, f"sip:+19005550100@{DOMAIN}", [f"Route: <sip:127.0.0.2:{gw.port};lr>"])
    start, _, _ = a.expect_status(403, "INVITE")
    assert "Dial Plan" in start
    gw.no_invite(1.0)
    assert events(s, "call.gateway_bypass")
    gw.close()


BAD_CONFS = [
    ("[peer gw1]\nrole = gateway\n", "has no address"),
    ("[peer gw1]\naddress = udp:127.0.0.2:5999\n[peer gw2]\naddress = udp:127.0.0.3:5999\n"
     "sources = 127.0.0.0/24\n", "overlap"),
    ("[classes]\nexpensive = +1900\n", "unknown class"),
    ("[classes]\npremium = 1-900\n", "does not parse"),
    ("[peer gw1]\naddress = udp:127.0.0.2:5999\n[routes]\n+1 = gw1, gw7\n",
     "unknown peer \"gw7\""),
]


@pytest.mark.parametrize("conf,why", BAD_CONFS)
def test_bad_peer_configuration_refused(make_server, conf, why):
    s = make_server(conf, start=False)
    r = run_cli("--state", s.state, "serve", timeout=30)
    assert r.returncode != 0
    assert re.search(r"bastion\.conf:\d+: .*" + re.escape(why), r.stderr), r.stderr


def test_bad_peer_configuration_on_sighup_keeps_running(make_server, users_of):
    gw = Gateway("127.0.0.2")
    s = users_of(make_server(trunk_conf([gw])))
    with open(s.conf_path, "a") as f:
        f.write("\n[routes]\n+44 = nobody\n")
    s.signal(signal.SIGHUP)
    s.wait_log("reload refused", timeout=10)
    assert re.search(r"bastion\.conf:\d+: route \+44: unknown peer \"nobody\"", s.log_text())
    # the running dial plan still works
    a = Phone(s, "1001", USERS["1001"])
    call(a, f"sip:+12125550100@{DOMAIN}")
    _, hdrs, _ = gw.expect_invite()
    gw.respond(s, hdrs, 486, "Busy Here")
    a.expect_status(486, "INVITE")
    gw.close()


def test_peer_cli(make_server, tmp_path):
    s = make_server(start=False)
    st = ["--state", s.state]
    r = run_cli(*st, "peer", "add", "gw1", "--address", "udp:127.0.0.2:5070", "--role",
                "gateway", "--trust-pai", "yes")
    assert r.returncode == 0, r.stderr
    r = run_cli(*st, "peer", "add", "carrier", "--address",
                "udp:192.0.2.50:5060,tcp:[2001:db8::50]:5060", "--role", "trunk",
                "--max-calls-out", "5", "--sources", "192.0.2.48/29")
    assert r.returncode == 0, r.stderr
    before = open(s.conf_path).read()
    # refused: overlapping, unknown option, a value that would inject a section
    r = run_cli(*st, "peer", "add", "gw2", "--address", "udp:127.0.0.2:5080")
    assert r.returncode == 1 and "overlap peer gw1" in r.stderr, r.stderr
    r = run_cli(*st, "peer", "add", "gw2", "--colour", "red")
    assert r.returncode == 2
    r = run_cli(*st, "peer", "add", "gw2", "--address", "udp:127.0.0.9:5060\n[peer x]")
    assert r.returncode == 2
    assert open(s.conf_path).read() == before
    r = run_cli(*st, "peer", "list")
    assert r.returncode == 0
    assert re.search(r"gw1\s+gateway\s+trust\s+30\s+30\s+udp:127\.0\.0\.2:5070", r.stdout), r.stdout
    assert re.search(r"carrier\s+trunk\s+strip\s+5\s+30\s+udp:192\.0\.2\.50:5060,"
                     r"tcp:\[2001:db8::50\]:5060", r.stdout), r.stdout
    r = run_cli(*st, "peer", "show", "carrier")
    assert r.returncode == 0 and "192.0.2.48/29" in r.stdout and "at most 5" in r.stdout
    r = run_cli(*st, "peer", "show", "nobody")
    assert r.returncode == 1 and "no such peer" in r.stderr
    # a route names gw1: deleting it would break the file, so it is refused
    with open(s.conf_path, "a") as f:
        f.write("\n[routes]\n+1 = gw1\n")
    r = run_cli(*st, "peer", "del", "gw1")
    assert r.returncode == 1 and "unknown peer \"gw1\"" in r.stderr, r.stderr
    r = run_cli(*st, "peer", "del", "carrier")
    assert r.returncode == 0, r.stderr
    r = run_cli(*st, "peer", "list")
    assert "carrier" not in r.stdout and "gw1" in r.stdout
    # calling classes: only known users, only known classes; a second set
    # replaces; stored with the user, the file untouched
    import_users(s, USERS, tmp_path)
    before = open(s.conf_path).read()
    r = run_cli(*st, "user", "set", "1001", "--calling", "international")
    assert r.returncode == 0, r.stderr
    r = run_cli(*st, "user", "set", "1001", "--calling", "local")
    assert r.returncode == 0, r.stderr
    assert open(s.conf_path).read() == before
    r = run_cli(*st, "user", "show", "1001")
    assert re.search(r"(?m)^calling\s+local$", r.stdout), r.stdout
    r = run_cli(*st, "user", "set", "nobody", "--calling", "local")
    assert r.returncode == 1 and "no such user" in r.stderr
    r = run_cli(*st, "user", "set", "1001", "--calling", "galactic")
    assert r.returncode == 2
    # the server starts with what the command line wrote
    s.start()
    assert s.options_ok()


def test_firewall_rules_pass_nft_check(make_server):
    import shutil
    if not shutil.which("nft"):
        pytest.skip("nft (Debian nftables) is not installed: scripts/deps.sh installs it")
    s = make_server("[network]\nphones = 10.20.0.5/16, 2001:db8:99::/48\n"
                    + trunk_conf([("127.0.0.2", 5070), ("192.0.2.50", 5060)]), start=False)
    r = run_cli("--state", s.state, "firewall")
    assert r.returncode == 0, r.stderr
    rules = r.stdout
    assert "elements = { 127.0.0.2/32, 192.0.2.50/32 }" in rules
    assert "elements = { 10.20.0.0/16 }" in rules  # host bits cleared for nft
    assert "ip saddr @phones4 ip daddr @peers4 counter drop" in rules
    assert re.search(rf"udp dport {{ {s.port} }} counter drop", rules), rules
    path = os.path.join(s.state, "bastion.nft")
    with open(path, "w") as f:
        f.write(rules)
    chk = subprocess.run(["nft", "-c", "-f", path], capture_output=True, text=True, timeout=30)
    if chk.returncode != 0 and "Operation not permitted" in chk.stderr:
        pytest.skip("nft -c needs CAP_NET_ADMIN here")
    assert chk.returncode == 0, chk.stderr
    # and nft does catch a broken rule set (the check is not a formality)
    with open(path, "w") as f:
        f.write(rules.replace("flags interval", "flags intervall", 1))
    chk = subprocess.run(["nft", "-c", "-f", path], capture_output=True, text=True, timeout=30)
    assert chk.returncode != 0
