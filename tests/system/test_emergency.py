"""Emergency calls (issue 13, docs/emergency.md): the emergency peers are
SIPp UASes (whole calls) or small Python peers (to see exactly what
arrives) on 127.0.0.2 and 127.0.0.3, ports from the kernel.

- the INVITE carries a PIDF-LO (RFC 4119) next to the SDP in a
  multipart/mixed body, validated with xmllint, a Geolocation header
  pointing at it by cid, Geolocation-Routing, and the callback number as
  P-Asserted-Identity (the user's DID, else the location's ELIN);
- 911, 9-911 (the outside-line prefix), tel:911 and +1911 all connect;
- the call connects while the caller's class of service denies every
  outside call, while its toll-fraud limits are exhausted, while the
  server sheds other new calls with 503 (overload), and while a flood from
  another source is dropped; the flood of emergency INVITEs itself gets no
  more than the bound docs/emergency.md states;
- failover to the second emergency peer;
- the MESSAGE reaches a registered front-desk phone;
- an unauthenticated device is refused by default and connected with
  [emergency] allow_unauthenticated = yes (and the audit says so);
- locations: the network a phone registers from places it, a user's own
  location overrides it; a field over its limit or with a control
  character is refused when set; XML-breaking characters are escaped;
- the call record marks the call and the location sent;
- an emergency route to an unknown peer stops startup; a number with no
  peer is a startup warning and an audit failure.
"""
import os
import re
import signal
import socket
import subprocess
import time
import uuid

import pytest

from conftest import (BIN, DOMAIN, Phone, cdrs, digest_header, events, hval, import_users,
                      parse_msg, run_cli)
from test_trunks import Gateway, call, kernel_port, sipp_done

USERS = {"1001": "correct-horse-1001", "1002": "battery-staple-1002",
         "desk": "front-desk-secret-9", "probe": "probe-only-secret-7"}
SCEN = os.path.join(os.path.dirname(__file__), "scenarios")

HQ = ("[location hq]\nprefix = 127.0.0.1/32\ncountry = US\nA1 = NY\nA3 = New York\n"
      "RD = Main Street\nHNO = 100\nBLD = North\nFLR = 2\nROOM = 201\n"
      "elin = +15551239999\n")


def emerg_conf(peers, routes="911 = psap1, psap2\n933 = psap1\n", extra=""):
    """Peers psap1, psap2 ... for Gateway objects or (ip, port) pairs; the
    emergency routes, the outside-line prefix 9, the hq location, a DID for
    1002 only."""
    out = []
    for i, g in enumerate(peers, 1):
        ip, port = (g.ip, g.port) if isinstance(g, Gateway) else g
        out.append(f"[peer psap{i}]\naddress = udp:{ip}:{port}\nrole = gateway\n"
                   f"ping_interval = 0\n")
    out.append(f"[emergency_routes]\n{routes}")
    out.append("[dialplan]\noutside_prefix = 9\n")
    out.append("[dids]\n+15551230002 = 1002\n")
    out.append(HQ)
    return "\n".join(out) + "\n" + extra


@pytest.fixture
def users_of(tmp_path):
    def add(server):
        import_users(server, USERS, tmp_path)
        # the server takes the new users within a second: wait until it knows
        # them (a user of its own, so no test's user has a binding it did not make)
        deadline = time.monotonic() + 10
        while True:
            p = Phone(server, "probe", USERS["probe"])
            try:
                p.register(code=200)
                return server
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)  # polling for the condition above, not a delay
            finally:
                p.close()
    return add


def emergency_call(phone, ruri=None, sdp=b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n"
                   b"c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"):
    """The phone's INVITE to an emergency number through the 407; returns the
    Call-ID."""
    return call_with_body(phone, ruri or f"sip:911@{DOMAIN}", sdp)


def call_with_body(phone, ruri, sdp):
    call_id = uuid.uuid4().hex + "@test"
    phone.cseq += 1
    first = "z9hG4bK" + uuid.uuid4().hex
    ctype = ["Content-Type: application/sdp"]
    phone.send(phone.request("INVITE", ruri, ruri, call_id, phone.cseq, ctype, sdp,
                             branch=first))
    _, hdrs, _ = phone.expect_status(407, "INVITE")
    tag = re.search(r";tag=([^;>\s]+)", hval(hdrs, "To")[0]).group(1)
    phone.send(phone.request("ACK", ruri, ruri, call_id, phone.cseq, [], b"", branch=first,
                             to_tag=tag))
    chal = {}
    for v in hval(hdrs, "Proxy-Authenticate"):
        params = dict((k, a or b) for k, a, b in
                      re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]+))', v[7:]))
        chal[params.get("algorithm", "MD5")] = params
    auth = digest_header(phone.user, phone.password, chal["SHA-256"], "INVITE", ruri,
                         "SHA-256").replace("Authorization:", "Proxy-Authorization:")
    phone.cseq += 1
    phone.send(phone.request("INVITE", ruri, ruri, call_id, phone.cseq, ctype + [auth], sdp))
    return call_id


def parts(hdrs, body):
    """The parts of a multipart/mixed body: [(headers dict, bytes)]."""
    ctype = hval(hdrs, "Content-Type")[0]
    assert ctype.startswith("multipart/mixed"), ctype
    boundary = re.search(r"boundary=\"?([^\";]+)", ctype).group(1).encode()
    assert body.rstrip().endswith(b"--" + boundary + b"--"), body[-80:]
    out = []
    for chunk in body.split(b"--" + boundary)[1:-1]:
        head, _, data = chunk.strip(b"\r\n").partition(b"\r\n\r\n")
        h = {}
        for line in head.decode().split("\r\n"):
            k, v = line.split(":", 1)
            h[k.strip().lower()] = v.strip()
        out.append((h, data))
    return out


def xmllint(tmp_path, xml, xpath=None):
    path = tmp_path / f"pidf-{uuid.uuid4().hex[:6]}.xml"
    path.write_bytes(xml)
    r = subprocess.run(["xmllint", "--noout", str(path)], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    if xpath is None:
        return None
    r = subprocess.run(["xmllint", "--xpath", xpath, str(path)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.rstrip("\n")


def civic(tmp_path, xml, name):
    return xmllint(tmp_path, xml, f"string(//*[local-name()='civicAddress']/*"
                                  f"[local-name()='{name}'])")


def check_location_invite(tmp_path, hdrs, body, room, pai):
    """What the emergency peer must get: multipart (SDP + PIDF-LO), the
    Geolocation cid naming the PIDF part, PAI, Priority."""
    (sdp_h, sdp), (loc_h, pidf) = parts(hdrs, body)
    assert sdp_h["content-type"] == "application/sdp" and sdp.startswith(b"v=0")
    assert loc_h["content-type"] == "application/pidf+xml"
    cid = re.fullmatch(r"<(.+)>", loc_h["content-id"]).group(1)
    assert hval(hdrs, "Geolocation") == [f"<cid:{cid}>"]
    assert hval(hdrs, "Geolocation-Routing") == ["yes"]
    assert hval(hdrs, "P-Asserted-Identity") == [f"<tel:{pai}>"]
    assert hval(hdrs, "Priority") == ["emergency"]
    # RFC 4119 / 5139: well formed, the civic elements there
    xmllint(tmp_path, pidf)
    ns = xmllint(tmp_path, pidf, "string(namespace-uri(/*))")
    assert ns == "urn:ietf:params:xml:ns:pidf"
    assert civic(tmp_path, pidf, "country") == "US"
    assert civic(tmp_path, pidf, "ROOM") == room
    return pidf


# ---- the INVITE to the emergency peer ---------------------------------------------

def sipp_psap(tmp_path, ip, port, scenario, ruri, pai="."):
    """SIPp as the emergency peer's UAS; its messages logged to a file."""
    import html
    text = open(os.path.join(SCEN, scenario)).read()
    text = text.replace("@RURI@", html.escape(ruri)).replace("@PAI@", html.escape(pai))
    path = tmp_path / f"{scenario}.{ip}.xml"
    path.write_text(text)
    log = tmp_path / f"msgs.{ip}.log"
    proc = subprocess.Popen(["sipp", "-sf", str(path), "-i", ip, "-p", str(port), "-m", "1",
                             "-t", "u1", "-nostdin", "-timeout", "60s", "-timeout_error",
                             "-trace_msg", "-message_file", str(log),
                             "-trace_err", "-error_file", str(tmp_path / f"err.{ip}.log")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind((ip, port))
            except OSError:
                return proc, log
        assert proc.poll() is None, proc.communicate()[0][-1000:]
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("sipp did not bind its port")


def invite_from_sipp_log(log):
    """The INVITE SIPp received, as (start, headers, body) bytes parsed."""
    text = log.read_bytes()
    m = re.search(rb"(INVITE sip:[^\r\n]*\r\n.*?\r\n\r\n)", text, re.S)
    assert m, text[:2000]
    head = m.group(1)
    n = int(re.search(rb"(?im)^content-length:\s*(\d+)", head).group(1))
    start = m.start(1)
    msg = text[start:start + len(head) + n]
    return parse_msg(msg)


def test_pidf_lo_geolocation_and_callback_to_a_sipp_psap(make_server, users_of, tmp_path):
    p1 = kernel_port("127.0.0.2")
    s = users_of(make_server(emerg_conf([("127.0.0.2", p1), ("127.0.0.3", kernel_port(
        "127.0.0.3"))])))
    psap, log = sipp_psap(tmp_path, "127.0.0.2", p1, "gateway_uas.xml",
                          ruri=r"^INVITE sip:911@127\.0\.0\.2:" + str(p1) + ";user=phone",
                          pai=r"Geolocation: <cid:")
    a = Phone(s, "1001", USERS["1001"])
    a.register()
    cid = emergency_call(a)
    _, ok, _ = a.expect_status(200, "INVITE", timeout=15)
    from test_trunks import finish_call
    finish_call(a, ok, cid)
    sipp_done(psap, tmp_path, "127.0.0.2")
    _, hdrs, body = invite_from_sipp_log(log)
    # 1001 has no DID: the callback number is the location's ELIN
    pidf = check_location_invite(tmp_path, hdrs, body, "201", "+15551239999")
    assert civic(tmp_path, pidf, "A3") == "New York"
    assert civic(tmp_path, pidf, "RD") == "Main Street"
    # the event, and the record marked with the location sent
    ev = events(s, "emergency.call")
    assert ev and ev[-1]["user"] == "1001" and "number 911" in ev[-1]["reason"], ev
    assert "ROOM=201" in ev[-1]["reason"] and "+15551239999" in ev[-1]["reason"]
    recs = [r for r in cdrs(s, wait_for=1) if r.get("emergency")]
    assert recs and recs[-1]["status"] == 200 and "ROOM=201" in recs[-1]["location"], recs
    assert recs[-1]["class"] == "emergency" and recs[-1]["number"] == "911", recs[-1]
    assert recs[-1]["peer"] == "psap1" and recs[-1]["dialed"] == "911", recs[-1]
    r = run_cli("--state", s.state, "cdr", "list")
    assert r.returncode == 0 and "EMERGENCY location country=US" in r.stdout, r.stdout


@pytest.mark.parametrize("dialed", [f"sip:911@{DOMAIN}", f"sip:9911@{DOMAIN}",
                                    f"sip:9-911@{DOMAIN};user=phone", "tel:911",
                                    f"sip:+1911@{DOMAIN}", f"sip:933@{DOMAIN}"])
def test_every_form_of_the_number_connects(make_server, users_of, dialed):
    g1, g2 = Gateway("127.0.0.2"), Gateway("127.0.0.3")
    s = users_of(make_server(emerg_conf([g1, g2])))
    b = Phone(s, "1002", USERS["1002"])
    emergency_call(b, dialed)
    b.expect_status(100, "INVITE", timeout=10)  # authenticated: it goes on
    start, hdrs, _ = g1.expect_invite(timeout=10)
    number = "933" if "933" in dialed else "911"
    assert start.startswith(f"INVITE sip:{number}@127.0.0.2:{g1.port};user=phone "), start
    # 1002 has a DID: that is the callback number
    assert hval(hdrs, "P-Asserted-Identity") == ["<tel:+15551230002>"]
    g1.respond(s, hdrs, 486, "Busy Here")
    b.expect_status(486, "INVITE", timeout=10)
    g2.no_invite(0.3)
    g1.close()
    g2.close()


def test_failover_to_the_second_emergency_peer(make_server, users_of, tmp_path):
    from test_trunks import sipp_gateway
    p1, p2 = kernel_port("127.0.0.2"), kernel_port("127.0.0.3")
    s = users_of(make_server(emerg_conf([("127.0.0.2", p1), ("127.0.0.3", p2)])))
    down = sipp_gateway(tmp_path, "127.0.0.2", p1, "gateway_503.xml")
    up = sipp_gateway(tmp_path, "127.0.0.3", p2, "gateway_uas.xml",
                      ruri=r"^INVITE sip:911@127\.0\.0\.3:" + str(p2),
                      pai=r"Content-Type: multipart/mixed")
    a = Phone(s, "1001", USERS["1001"])
    cid = emergency_call(a)
    _, ok, _ = a.expect_status(200, "INVITE", timeout=20)
    from test_trunks import finish_call
    finish_call(a, ok, cid)
    sipp_done(down, tmp_path, "127.0.0.2")
    sipp_done(up, tmp_path, "127.0.0.3")


def test_onto_any_gateway_when_the_emergency_peers_fail(make_server, users_of):
    """911's route names psap1 only; when it fails (503) the call goes on to
    psap2, a gateway on no emergency route: the last resort."""
    g1, g2 = Gateway("127.0.0.2"), Gateway("127.0.0.3")
    s = users_of(make_server(emerg_conf([g1, g2], routes="911 = psap1\n")))
    a = Phone(s, "1001", USERS["1001"])
    emergency_call(a)
    _, h1, _ = g1.expect_invite(timeout=10)
    g1.respond(s, h1, 503, "Service Unavailable")
    start, h2, body = g2.expect_invite(timeout=10)
    assert start.startswith(f"INVITE sip:911@127.0.0.3:{g2.port};user=phone "), start
    assert hval(h2, "Geolocation") == hval(h1, "Geolocation")
    g2.respond(s, h2, 486, "Busy Here")
    a.expect_status(486, "INVITE", timeout=10)
    g1.close()
    g2.close()


# ---- always connected ---------------------------------------------------------------

def test_connects_while_the_class_of_service_denies_outside_calls(make_server, users_of):
    g1 = Gateway("127.0.0.2")
    s = users_of(make_server(emerg_conf([g1], routes="911 = psap1\n",
                                        extra="[calling]\n1001 = internal\n")))
    a = Phone(s, "1001", USERS["1001"])
    call(a, f"sip:+12125550100@{DOMAIN}")
    start, _, _ = a.expect_status(403, "INVITE")
    assert "Calling Class Not Allowed" in start
    g1.no_invite(0.3)
    emergency_call(a)
    _, hdrs, _ = g1.expect_invite(timeout=10)
    g1.respond(s, hdrs, 200, "OK")
    a.expect_status(200, "INVITE", timeout=10)
    g1.close()


def test_connects_with_fraud_limits_exhausted_and_reserved_slots(make_server, users_of):
    """1002's one outside call is in progress (max_calls_per_user = 1) and
    takes psap1's only ordinary slot (max_calls_out 3, reserved_slots 2):
    1001's outside call is refused at the cap; 1002's emergency call and
    1001's still go to psap1."""
    g1 = Gateway("127.0.0.2")
    conf = emerg_conf([g1], routes="911 = psap1\n",
                      extra="[routes]\n+ = psap1\n[emergency]\nreserved_slots = 2\n")
    conf = conf.replace("ping_interval = 0\n", "ping_interval = 0\nmax_calls_out = 3\n")
    conf = conf.replace("outside_prefix = 9\n", "outside_prefix = 9\nmax_calls_per_user = 1\n")
    s = users_of(make_server(conf))
    b = Phone(s, "1002", USERS["1002"])
    call(b, f"sip:+12125550100@{DOMAIN}")
    _, first, _ = g1.expect_invite(timeout=10)
    g1.respond(s, first, 180, "Ringing")
    # 1002 is at its own cap
    b2 = Phone(s, "1002", USERS["1002"])
    call(b2, f"sip:+12125550101@{DOMAIN}")
    start, _, _ = b2.expect_status(403, "INVITE")
    assert "Outside Call Limit Reached" in start
    # psap1 has 2 free slots, but they are reserved: 1001's ordinary call is refused
    a = Phone(s, "1001", USERS["1001"])
    call(a, f"sip:+12125550102@{DOMAIN}")
    start, _, _ = a.expect_status(403, "INVITE")
    assert "Outside Call Limit Reached" in start
    g1.no_invite(0.3)
    # the emergency calls take the reserved slots
    emergency_call(b2)
    _, e1, _ = g1.expect_invite(timeout=10)
    assert e1 and hval(e1, "P-Asserted-Identity") == ["<tel:+15551230002>"]
    g1.respond(s, e1, 180, "Ringing")
    a2 = Phone(s, "1001", USERS["1001"])
    emergency_call(a2)
    _, e2, _ = g1.expect_invite(timeout=10)
    for h, p in ((e1, b2), (e2, a2)):
        g1.respond(s, h, 486, "Busy Here")
        p.expect_status(486, "INVITE", timeout=10)
    g1.respond(s, first, 486, "Busy Here")
    b.expect_status(486, "INVITE", timeout=10)
    g1.close()


def test_connects_while_the_server_sheds_other_calls(make_server, users_of):
    """Overload: requests that waited in the queue longer than overload_delay
    get 503; an emergency INVITE that waited as long is served."""
    g1 = Gateway("127.0.0.2")
    s = users_of(make_server(emerg_conf([g1], routes="911 = psap1\n")))
    a = Phone(s, "1001", USERS["1001"])
    b = Phone(s, "1002", USERS["1002"])
    msgs = []
    for p, ruri in ((a, f"sip:911@{DOMAIN}"), (b, f"sip:1001@{DOMAIN}")):
        # a challenge first (served: nothing is queued yet)
        call_id = uuid.uuid4().hex + "@test"
        p.cseq += 1
        br = "z9hG4bK" + uuid.uuid4().hex
        p.send(p.request("INVITE", ruri, ruri, call_id, p.cseq, [], b"", branch=br))
        _, h, _ = p.expect_status(407, "INVITE", timeout=10)
        tag = re.search(r";tag=([^;>\s]+)", hval(h, "To")[0]).group(1)
        p.send(p.request("ACK", ruri, ruri, call_id, p.cseq, [], b"", branch=br, to_tag=tag))
        params = [dict((k, x or y) for k, x, y in
                       re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]+))', v[7:]))
                  for v in hval(h, "Proxy-Authenticate")]
        chal = next(c for c in params if c.get("algorithm") == "SHA-256")
        auth = digest_header(p.user, p.password, chal, "INVITE", ruri, "SHA-256").replace(
            "Authorization:", "Proxy-Authorization:")
        p.cseq += 1
        msgs.append((p, p.request("INVITE", ruri, ruri, call_id, p.cseq, [auth], b"")))
    # now the server sheds what waited more than 1 ms in its queue
    s.set_conf("guard", "overload_delay", "1")
    n = s.log_text().count("configuration reloaded")
    s.signal(signal.SIGHUP)
    s.wait_log("configuration reloaded", timeout=10, count=n + 1)
    s.signal(signal.SIGSTOP)
    try:
        for p, m in msgs:
            p.send(m)
        time.sleep(0.1)  # both wait in the queue far longer than overload_delay (1 ms)
    finally:
        s.signal(signal.SIGCONT)
    start, _, _ = b.expect_status(503, "INVITE", timeout=10)
    _, hdrs, _ = g1.expect_invite(timeout=10)
    g1.respond(s, hdrs, 200, "OK")
    a.expect_status(200, "INVITE", timeout=10)
    g1.close()


def flood(ip, port, ruri, n):
    """n unauthenticated INVITEs from ip as fast as they go; returns (the
    socket, the time they started)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((ip, 0))
    me = sock.getsockname()[1]
    t0 = time.monotonic()
    for i in range(n):
        msg = (f"INVITE {ruri} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP {ip}:{me};branch=z9hG4bKfl{i}x{uuid.uuid4().hex[:8]}\r\n"
               f"Max-Forwards: 70\r\nFrom: <sip:x@{DOMAIN}>;tag=f{i}\r\n"
               f"To: <{ruri}>\r\nCall-ID: flood{i}.{uuid.uuid4().hex}\r\n"
               f"CSeq: 1 INVITE\r\nContact: <sip:x@{ip}:{me}>\r\nContent-Length: 0\r\n\r\n")
        sock.sendto(msg.encode(), ("127.0.0.1", port))
    return sock, t0


def answers(sock, quiet=1.0, limit=30.0):
    """How many of the flood's INVITEs got a final answer (distinct Call-IDs:
    a 407 nobody ACKs is retransmitted), until nothing came for `quiet`
    seconds."""
    seen, end = set(), time.monotonic() + limit
    sock.settimeout(quiet)
    while time.monotonic() < end:
        try:
            data = sock.recv(70000)
        except socket.timeout:
            break
        start, hdrs, _ = parse_msg(data)
        if re.match(r"SIP/2\.0 [3-6]\d\d ", start):
            seen.add(hval(hdrs, "Call-ID")[0])
    return len(seen)


def test_connects_while_a_flood_from_another_source_is_dropped(make_server, users_of):
    g1 = Gateway("127.0.0.2")
    s = users_of(make_server(emerg_conf(
        [g1], routes="911 = psap1\n",
        extra="[guard]\ninvite_rate = 2\nrate = 4\n")))
    sock, t0 = flood("127.0.0.5", s.port, f"sip:1001@{DOMAIN}", 200)
    a = Phone(s, "1001", USERS["1001"])
    emergency_call(a)
    _, hdrs, _ = g1.expect_invite(timeout=10)
    g1.respond(s, hdrs, 200, "OK")
    a.expect_status(200, "INVITE", timeout=10)
    got = answers(sock)
    elapsed = time.monotonic() - t0
    sock.close()
    # the flood was dropped: at most the INVITE budget's burst and refill came back
    assert got <= 2 * 2 + 2 * elapsed + 1, (got, elapsed)
    g1.close()


def test_a_flood_of_emergency_invites_gets_no_more_than_the_bound(make_server, users_of):
    """docs/emergency.md: an attacker dialing 911 in a flood gets past the
    guard at most [emergency] rate per second (burst twice that) on top of
    its own budget; and a real caller from another source still connects."""
    g1 = Gateway("127.0.0.2")
    s = users_of(make_server(emerg_conf(
        [g1], routes="911 = psap1\n",
        extra="[guard]\ninvite_rate = 1\nrate = 2\n[emergency]\nrate = 3\n")))
    sock, t0 = flood("127.0.0.6", s.port, f"sip:911@{DOMAIN}", 200)
    got = answers(sock)
    elapsed = time.monotonic() - t0
    sock.close()
    # own budget (burst 2 x 1, refill 1/s) + the emergency bucket (burst 6, 3/s)
    bound = (2 * 1 + 1 * elapsed) + (2 * 3 + 3 * elapsed) + 1
    assert 0 < got <= bound, (got, elapsed, bound)
    assert got < 200
    a = Phone(s, "1001", USERS["1001"])
    emergency_call(a)
    _, hdrs, _ = g1.expect_invite(timeout=10)
    g1.respond(s, hdrs, 486, "Busy Here")
    a.expect_status(486, "INVITE", timeout=10)
    g1.close()


def test_emergency_calls_in_progress_are_bounded(make_server, users_of):
    """[emergency] max_calls server-wide; one at a time per account."""
    g1 = Gateway("127.0.0.2")
    s = users_of(make_server(emerg_conf([g1], routes="911 = psap1\n",
                                        extra="[emergency]\nmax_calls = 2\n")))
    a = Phone(s, "1001", USERS["1001"])
    emergency_call(a)
    _, h1, _ = g1.expect_invite(timeout=10)
    g1.respond(s, h1, 180, "Ringing")
    a2 = Phone(s, "1001", USERS["1001"])
    emergency_call(a2)
    start, _, _ = a2.expect_status(486, "INVITE", timeout=10)
    assert "Emergency Call In Progress" in start
    b = Phone(s, "1002", USERS["1002"])
    emergency_call(b)
    _, h2, _ = g1.expect_invite(timeout=10)
    g1.respond(s, h2, 180, "Ringing")
    d = Phone(s, "desk", USERS["desk"])
    emergency_call(d)
    start, _, _ = d.expect_status(503, "INVITE", timeout=10)
    assert "Emergency Capacity Reached" in start
    assert events(s, "emergency.refused")
    # one ends: room again
    g1.respond(s, h1, 486, "Busy Here")
    a.expect_status(486, "INVITE", timeout=10)
    d2 = Phone(s, "desk", USERS["desk"])
    emergency_call(d2)
    _, h3, _ = g1.expect_invite(timeout=10)
    for h, p in ((h2, b), (h3, d2)):
        g1.respond(s, h, 486, "Busy Here")
        p.expect_status(486, "INVITE", timeout=10)
    # every record is marked, the refused ones too
    deadline = time.monotonic() + 10
    while True:
        recs = [r for r in cdrs(s, wait_for=5) if r.get("emergency")]
        if len(recs) >= 5 or time.monotonic() > deadline:
            break
        time.sleep(0.1)  # polling the file for the condition above
    assert sorted(r["status"] for r in recs) == [486, 486, 486, 486, 503], recs
    g1.close()


def test_a_locked_account_still_calls_911(make_server, users_of):
    """Wrong passwords lock the account (brute force); its right password
    still places an emergency call from another address."""
    g1 = Gateway("127.0.0.2")
    s = users_of(make_server(emerg_conf([g1], routes="911 = psap1\n",
                                        extra="[guard]\nuser_fail_limit = 2\n"
                                              "source_fail_limit = 100\n")))
    bad = Phone(s, "1002", "wrong-password")
    for _ in range(3):
        bad.register(code=403)
    assert events(s, "auth.lockout"), events(s)
    # an ordinary call by the locked user is refused...
    b = Phone(s, "1002", USERS["1002"])
    call(b, f"sip:1001@{DOMAIN}")
    b.expect_status(403, "INVITE", timeout=10)
    # ...its emergency call is not
    emergency_call(b)
    _, hdrs, _ = g1.expect_invite(timeout=10)
    g1.respond(s, hdrs, 486, "Busy Here")
    b.expect_status(486, "INVITE", timeout=10)
    g1.close()


# ---- notification -----------------------------------------------------------------------

def test_the_front_desk_phone_gets_a_message(make_server, users_of):
    g1 = Gateway("127.0.0.2")
    s = users_of(make_server(emerg_conf([g1], routes="911 = psap1\n",
                                        extra="[emergency]\nnotify = desk\n")))
    desk = Phone(s, "desk", USERS["desk"])
    desk.register()
    a = Phone(s, "1001", USERS["1001"])
    emergency_call(a)
    _, hdrs, _ = g1.expect_invite(timeout=10)
    start, mh, body = desk.expect_request("MESSAGE", timeout=10)
    assert start.startswith(f"MESSAGE sip:desk@127.0.0.1:{desk.port}")
    assert hval(mh, "Content-Type")[0].startswith("text/plain")
    text = body.decode()
    assert "EMERGENCY CALL to 911 by 1001" in text and "ROOM=201" in text, text
    assert "Callback: +15551239999" in text
    desk.respond(mh, 200, "OK", "desk1")
    g1.respond(s, hdrs, 486, "Busy Here")
    a.expect_status(486, "INVITE", timeout=10)
    g1.close()


# ---- unauthenticated devices -----------------------------------------------------------

def test_unauthenticated_device_refused_by_default_connected_when_allowed(make_server,
                                                                           users_of):
    g1 = Gateway("127.0.0.2")
    s = users_of(make_server(emerg_conf([g1], routes="911 = psap1\n")))
    dev = Phone(s, "nobody", "x")
    ruri = f"sip:911@{DOMAIN}"
    cid = uuid.uuid4().hex
    dev.send(dev.request("INVITE", ruri, ruri, cid, 1, [], b""))
    dev.expect_status(407, "INVITE", timeout=10)
    g1.no_invite(0.5)
    # a device with credentials that are not an account's: refused too
    bad = Phone(s, "1001", "not-the-password")
    emergency_call(bad)
    bad.expect_status(403, "INVITE", timeout=10)
    g1.no_invite(0.3)
    assert events(s, "emergency.refused")
    r = run_cli("--state", s.state, "audit", "--json")
    assert '"emergency.unauthenticated"' in r.stdout
    # the site allows it: connected, with the network location's ELIN
    s.set_conf("emergency", "allow_unauthenticated", "yes")
    n = s.log_text().count("configuration reloaded")
    s.signal(signal.SIGHUP)
    s.wait_log("configuration reloaded", timeout=10, count=n + 1)
    dev.send(dev.request("INVITE", ruri, ruri, uuid.uuid4().hex, 2, [], b""))
    _, hdrs, body = g1.expect_invite(timeout=10)
    assert hval(hdrs, "P-Asserted-Identity") == ["<tel:+15551239999>"]
    assert hval(hdrs, "Geolocation")
    g1.respond(s, hdrs, 486, "Busy Here")
    dev.expect_status(486, "INVITE", timeout=10)
    ev = events(s, "emergency.call")
    assert ev and "ROOM=201" in ev[-1]["reason"]
    import json
    r = run_cli("--state", s.state, "audit", "--json")
    checks = {c["id"]: c for c in json.loads(r.stdout)["checks"]}
    assert checks["emergency.unauthenticated"]["status"] == "warn"
    g1.close()


# ---- locations -------------------------------------------------------------------------------

def test_user_location_overrides_the_network_and_is_escaped(make_server, users_of, tmp_path):
    g1 = Gateway("127.0.0.2")
    s = users_of(make_server(emerg_conf([g1], routes="911 = psap1\n")))
    st = s.state
    # refused when set, with the reason; nothing changes
    long_room = "x" * 33
    r = run_cli("--state", st, "user", "set", "1001", "--location", f"country=US;ROOM={long_room}")
    assert r.returncode == 2 and "ROOM" in r.stderr and "limit" in r.stderr, r.stderr
    r = run_cli("--state", st, "user", "set", "1001", "--location", "country=US;RD=a\x01b")
    assert r.returncode == 2 and "control character" in r.stderr, r.stderr
    r = run_cli("--state", st, "user", "set", "1001", "--location", "country=usa")
    assert r.returncode == 2 and "country" in r.stderr, r.stderr
    r = run_cli("--state", st, "user", "set", "1001", "--location", "colour=red")
    assert r.returncode == 2 and "unknown location field" in r.stderr, r.stderr
    r = run_cli("--state", st, "user", "show", "1001")
    assert "location  none" in r.stdout, r.stdout
    # characters that would break the XML are escaped in it
    r = run_cli("--state", st, "user", "set", "1001", "--location",
                "country=US;A1=NJ;RD=<Elm> & \"Co\" 'St';ROOM=7;ELIN=+15551230777")
    assert r.returncode == 0, r.stderr
    r = run_cli("--state", st, "user", "show", "1001")
    assert "ROOM=7" in r.stdout, r.stdout
    a = Phone(s, "1001", USERS["1001"])
    emergency_call(a)
    _, hdrs, body = g1.expect_invite(timeout=10)
    pidf = check_location_invite(tmp_path, hdrs, body, "7", "+15551230777")
    assert civic(tmp_path, pidf, "RD") == "<Elm> & \"Co\" 'St'"
    assert civic(tmp_path, pidf, "A1") == "NJ"
    assert b"&lt;Elm&gt; &amp;" in pidf
    g1.respond(s, hdrs, 486, "Busy Here")
    a.expect_status(486, "INVITE", timeout=10)
    ev = events(s, "emergency.call")
    assert "(user)" in ev[-1]["reason"], ev[-1]
    # cleared: the network places it again
    r = run_cli("--state", st, "user", "set", "1001", "--location", "none")
    assert r.returncode == 0, r.stderr
    a2 = Phone(s, "1001", USERS["1001"])
    emergency_call(a2)
    _, hdrs, body = g1.expect_invite(timeout=10)
    check_location_invite(tmp_path, hdrs, body, "201", "+15551239999")
    g1.respond(s, hdrs, 486, "Busy Here")
    a2.expect_status(486, "INVITE", timeout=10)
    g1.close()


def test_location_commands(make_server):
    s = make_server(start=False)
    st = s.state
    r = run_cli("--state", st, "location", "add", "lab", "--prefix", "10.9.0.0/16",
                "--civic", "country=US;A3=Boston;FLR=3;ROOM=Lab 3", "--elin", "+15551230300")
    assert r.returncode == 0, r.stderr
    r = run_cli("--state", st, "location", "list")
    assert r.returncode == 0 and "lab" in r.stdout and "+15551230300" in r.stdout \
        and "ROOM=Lab 3" in r.stdout, r.stdout
    before = open(s.conf_path).read()
    # refused, file unchanged: overlapping prefix, field over its limit, bad ELIN
    r = run_cli("--state", st, "location", "add", "lab2", "--prefix", "10.9.1.0/24")
    assert r.returncode == 1 and "overlapping" in r.stderr, r.stderr
    r = run_cli("--state", st, "location", "add", "lab3", "--prefix", "10.8.0.0/16",
                "--civic", "ROOM=" + "y" * 40)
    assert r.returncode == 2 and "limit" in r.stderr, r.stderr
    r = run_cli("--state", st, "location", "add", "lab4", "--prefix", "10.7.0.0/16",
                "--elin", "555")
    assert r.returncode == 2 and "ELIN" in r.stderr, r.stderr
    r = run_cli("--state", st, "location", "add", "lab5", "--prefix", "nonsense")
    assert r.returncode == 1 and "prefix" in r.stderr, r.stderr
    assert open(s.conf_path).read() == before
    r = run_cli("--state", st, "location", "del", "lab")
    assert r.returncode == 0, r.stderr
    r = run_cli("--state", st, "location", "list")
    assert "no locations" in r.stdout, r.stdout
    r = run_cli("--state", st, "location", "del", "lab")
    assert r.returncode == 1 and "no such location" in r.stderr


# ---- configuration ---------------------------------------------------------------------

def test_bad_emergency_configuration(make_server):
    g1 = Gateway("127.0.0.2")
    # a route to an unknown peer stops startup with file:line
    s = make_server(emerg_conf([g1], routes="911 = psap1, nowhere\n"), start=False)
    r = subprocess.run([BIN, "--state", s.state, "serve"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode != 0
    assert re.search(r"bastion\.conf:\d+: emergency route 911: unknown peer \"nowhere\"",
                     r.stderr), r.stderr
    # a number with no peer to go to (only a carrier trunk): a startup
    # warning, and the audit fails
    s2 = make_server(f"[peer carrier]\naddress = udp:127.0.0.2:{g1.port}\nrole = trunk\n"
                     "ping_interval = 0\n")
    s2.wait_log("emergency number 911 has no peer to go to", timeout=10)
    import json
    r = run_cli("--state", s2.state, "audit", "--json")
    checks = {c["id"]: c for c in json.loads(r.stdout)["checks"]}
    assert checks["emergency.routes"]["status"] == "fail", checks["emergency.routes"]
    assert "911 has no reachable peer" in checks["emergency.routes"]["found"]
    g1.close()


def test_the_network_a_phone_registers_from_places_it(make_server, users_of, tmp_path):
    """A softphone that moves is located where it registers from: 1001's
    phone registers from 127.0.0.8 (the lab); its call, sent from
    127.0.0.1 (hq), carries the lab's location and ELIN."""
    g1 = Gateway("127.0.0.2")
    lab = ("[location lab]\nprefix = 127.0.0.8/32\ncountry = US\nA3 = Boston\nFLR = 3\n"
           "ROOM = Lab 3\nelin = +15551230300\n")
    s = users_of(make_server(emerg_conf([g1], routes="911 = psap1\n", extra=lab)))
    soft = Phone(s, "1001", USERS["1001"])
    soft.sock.close()
    soft.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    soft.sock.bind(("127.0.0.8", 0))
    soft.port = soft.sock.getsockname()[1]
    soft.register()
    a = Phone(s, "1001", USERS["1001"])   # the INVITE comes from hq's address
    emergency_call(a)
    _, hdrs, body = g1.expect_invite(timeout=10)
    pidf = check_location_invite(tmp_path, hdrs, body, "Lab 3", "+15551230300")
    assert civic(tmp_path, pidf, "A3") == "Boston"
    g1.respond(s, hdrs, 486, "Busy Here")
    a.expect_status(486, "INVITE", timeout=10)
    ev = events(s, "emergency.call")
    assert "(network)" in ev[-1]["reason"], ev[-1]
    g1.close()
