"""Toll-fraud limits and alerts on calls beyond the building (issue 12,
docs/trunks.md "Limits" and "Fraud alerts"), and the call records of outside
calls. Gateways are small Python UAS on their own loopback addresses (ports
from the kernel), as in test_trunks.py.

- [fraud] calls_per_hour for a user, and a peer's own calls_per_hour;
- minutes per day: a user's domestic and international budgets apart, and a
  peer's, after calls that lasted a minute (the one test that must wait for
  a clock: a minute of talk is what is counted);
- fraud.alert on short international calls, with [fraud] suspend: the hold is
  stored with the user, survives a restart, and `bastion fraud clear` lifts it;
- fraud.alert on many destinations, without a hold;
- the class of service set with `bastion user set --calling` is stored, not
  written to bastion.conf, and reaches the running server without SIGHUP;
- call records carry peer, class, dialed and E.164 number (cdr.log and
  `bastion cdr list`), for calls out (with failover) and in.
"""
import re
import time
import uuid

from conftest import DOMAIN, Phone, cdrs, events, hval, run_cli
from test_trunks import USERS, Gateway, call, trunk_conf, users_of  # noqa: F401 (fixture)


def answer_ok(gw, server, hdrs, tag="gwok"):
    """The gateway answers an INVITE 200 with a Contact and an SDP body."""
    body = b"v=0\r\no=gw 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\n" \
           b"m=audio 4000 RTP/AVP 0\r\n"
    lines = ["SIP/2.0 200 OK"]
    lines += [f"Via: {v}" for v in hval(hdrs, "Via")]
    lines += [f"Record-Route: {v}" for v in hval(hdrs, "Record-Route")]
    lines.append(f"From: {hval(hdrs, 'From')[0]}")
    lines.append(f"To: {hval(hdrs, 'To')[0]};tag={tag}")
    lines += [f"Call-ID: {hval(hdrs, 'Call-ID')[0]}", f"CSeq: {hval(hdrs, 'CSeq')[0]}",
              f"Contact: <sip:gw@{gw.ip}:{gw.port}>", "Content-Type: application/sdp",
              f"Content-Length: {len(body)}"]
    gw.sock.sendto(("\r\n".join(lines) + "\r\n\r\n").encode() + body, ("127.0.0.1", server.port))


def connect(phone, gw, server, ruri):
    """A call from phone through gw, answered; returns (call_id, 200 headers)."""
    cid = call(phone, ruri)
    _, inv, _ = gw.expect_invite()
    answer_ok(gw, server, inv)
    _, ok, _ = phone.expect_status(200, "INVITE", timeout=10)
    totag = re.search(r";tag=([^;>\s]+)", hval(ok, "To")[0]).group(1)
    phone.in_dialog("ACK", ok, cid, phone.cseq, totag, phone.tag)
    return cid, ok


def hang_up(phone, gw, server, cid, ok):
    """The phone's BYE through the server; the gateway answers it."""
    totag = re.search(r";tag=([^;>\s]+)", hval(ok, "To")[0]).group(1)
    phone.in_dialog("BYE", ok, cid, phone.cseq + 1, totag, phone.tag)
    _, bye, _ = gw.expect(lambda s, h: s.startswith("BYE ") and hval(h, "Call-ID")[0] == cid,
                          timeout=5, what="BYE")
    lines = ["SIP/2.0 200 OK"] + [f"Via: {v}" for v in hval(bye, "Via")]
    lines += [f"{h}: {hval(bye, h)[0]}" for h in ("From", "To", "Call-ID", "CSeq")]
    lines.append("Content-Length: 0")
    gw.sock.sendto(("\r\n".join(lines) + "\r\n\r\n").encode(), ("127.0.0.1", server.port))
    phone.expect_status(200, "BYE")


def refused(phone, ruri, reason="Outside Call Limit Reached"):
    call(phone, ruri)
    start, _, _ = phone.expect_status(403, "INVITE")
    assert reason in start, start


def busy(phone, gw, server, ruri):
    """A call the gateway takes and answers 486."""
    call(phone, ruri)
    _, inv, _ = gw.expect_invite()
    gw.respond(server, inv, 486, "Busy Here")
    phone.expect_status(486, "INVITE")


def users_reloaded(server, before, timeout=10):
    server.wait_log("users reloaded from the store", timeout=timeout, count=before + 1)


def test_calls_per_hour_of_a_user(make_server, users_of):
    gw = Gateway("127.0.0.2")
    s = users_of(make_server(trunk_conf([gw], "\n[fraud]\ncalls_per_hour = 2\n")))
    a = Phone(s, "1001", USERS["1001"])
    for n in ("+12125550100", "+12125550101"):
        busy(a, gw, s, f"sip:{n}@{DOMAIN}")
    refused(a, f"sip:+12125550102@{DOMAIN}")
    gw.no_invite(0.5)
    ev = events(s, "fraud.limit")
    assert ev and "[fraud] calls_per_hour" in ev[-1]["reason"] and ev[-1]["user"] == "1001", ev
    # another user has its own count
    b = Phone(s, "1002", USERS["1002"])
    busy(b, gw, s, f"sip:+12125550103@{DOMAIN}")
    gw.close()


def test_calls_per_hour_of_a_peer(make_server, users_of):
    g1, g2 = Gateway("127.0.0.2"), Gateway("127.0.0.3")
    conf = trunk_conf([g1, g2], "\n[routes]\n+1212 = gw1, gw2\n+1313 = gw1\n"
                                "[fraud]\ncalls_per_hour = 0\n")
    conf = conf.replace("[peer gw1]\n", "[peer gw1]\ncalls_per_hour = 1\n")
    s = users_of(make_server(conf))
    a = Phone(s, "1001", USERS["1001"])
    busy(a, g1, s, f"sip:+12125550100@{DOMAIN}")
    # gw1 had its call of the hour: the route goes on to gw2 ...
    busy(a, g2, s, f"sip:+12125550101@{DOMAIN}")
    g1.no_invite(0.3)
    # ... and a route with gw1 alone is refused
    refused(a, f"sip:+13135550100@{DOMAIN}")
    g1.no_invite(0.3)
    ev = events(s, "fraud.limit")
    assert ev and "the peer's calls in the last hour reached its calls_per_hour" in \
        ev[-1]["reason"], ev
    g1.close()
    g2.close()


def test_minutes_per_day_user_international_apart_and_peer(make_server, users_of):
    """Two servers at once, so one minute of talk serves both: on A the
    users' budgets (domestic and international apart), on B a peer's."""
    ga, gb = Gateway("127.0.0.2"), Gateway("127.0.0.3")
    a_srv = users_of(make_server(trunk_conf([ga], "\n[calling]\n1002 = international\n"
                                                  "[fraud]\nminutes_per_day = 1\n"
                                                  "international_minutes_per_day = 1\n")))
    conf_b = trunk_conf([gb], "\n[fraud]\nminutes_per_day = 0\n")
    conf_b = conf_b.replace("[peer gw1]\n", "[peer gw1]\nminutes_per_day = 1\n")
    b_srv = users_of(make_server(conf_b))
    a1, a2 = Phone(a_srv, "1001", USERS["1001"]), Phone(a_srv, "1002", USERS["1002"])
    b1 = Phone(b_srv, "1001", USERS["1001"])
    up = [(a1, ga, a_srv) + connect(a1, ga, a_srv, f"sip:+12125550100@{DOMAIN}"),
          (a2, ga, a_srv) + connect(a2, ga, a_srv, f"sip:+442079460000@{DOMAIN}"),
          (b1, gb, b_srv) + connect(b1, gb, b_srv, f"sip:+12125550100@{DOMAIN}")]
    # one minute of talk (and a second), the quantity being counted
    end = time.monotonic() + 61.5
    while time.monotonic() < end:
        ga._read(0.2)
        gb._read(0.2)
    for phone, gw, srv, cid, ok in up:
        hang_up(phone, gw, srv, cid, ok)
    assert any(r.get("duration_s", 0) >= 60 for r in cdrs(a_srv, wait_for=2))
    # A: 1001's domestic budget is spent
    a3 = Phone(a_srv, "1001", USERS["1001"])
    refused(a3, f"sip:+12125550101@{DOMAIN}")
    assert "[fraud] minutes_per_day" in events(a_srv, "fraud.limit")[-1]["reason"]
    # 1002's international budget is spent, its domestic one is not
    a4 = Phone(a_srv, "1002", USERS["1002"])
    refused(a4, f"sip:+442079460001@{DOMAIN}")
    assert "international_minutes_per_day" in events(a_srv, "fraud.limit")[-1]["reason"]
    busy(a4, ga, a_srv, f"sip:+12125550102@{DOMAIN}")
    # B: the peer's budget is spent, for every user
    b2 = Phone(b_srv, "1002", USERS["1002"])
    refused(b2, f"sip:+12125550103@{DOMAIN}")
    assert "the peer's minutes in the last day reached its minutes_per_day" in \
        events(b_srv, "fraud.limit")[-1]["reason"]
    gb.no_invite(0.3)
    ga.close()
    gb.close()


def test_alert_on_short_international_calls_holds_until_cleared(make_server, users_of):
    gw = Gateway("127.0.0.2")
    s = users_of(make_server(trunk_conf([gw], "\n[fraud]\nalert_short_calls = 3\n"
                                              "short_call = 10\nsuspend = yes\n")))
    before = s.log_text().count("users reloaded from the store")
    r = run_cli("--state", s.state, "user", "set", "1001", "--calling", "international")
    assert r.returncode == 0, r.stderr
    users_reloaded(s, before)
    a = Phone(s, "1001", USERS["1001"])
    for i in range(3):
        busy(a, gw, s, f"sip:+44207946000{i}@{DOMAIN}")
    deadline = time.monotonic() + 5
    while not events(s, "fraud.alert") and time.monotonic() < deadline:
        time.sleep(0.05)
    ev = events(s, "fraud.alert")
    assert ev and ev[0]["user"] == "1001" and "alert_short_calls" in ev[0]["reason"], ev
    # on hold: refused, national numbers too; stored with the user
    refused(a, f"sip:+12125550100@{DOMAIN}", "Outside Calling Suspended")
    gw.no_invite(0.3)
    assert "on hold" in events(s, "fraud.limit")[-1]["reason"]
    r = run_cli("--state", s.state, "fraud", "list")
    assert r.returncode == 0 and re.search(r"(?m)^1001\s+\S+Z\s+3 short international", r.stdout), \
        r.stdout
    r = run_cli("--state", s.state, "user", "show", "1001")
    assert "on hold since" in r.stdout, r.stdout
    # a restart keeps it
    assert s.stop() == 0
    s.start()
    b = Phone(s, "1001", USERS["1001"])
    refused(b, f"sip:+12125550100@{DOMAIN}", "Outside Calling Suspended")
    # clear: refused for somebody not on hold, then lifted for 1001
    r = run_cli("--state", s.state, "fraud", "clear", "1002")
    assert r.returncode == 1 and "not on hold" in r.stderr, r.stderr
    r = run_cli("--state", s.state, "fraud", "clear", "nobody")
    assert r.returncode == 1 and "no such user" in r.stderr, r.stderr
    before = s.log_text().count("users reloaded from the store")
    r = run_cli("--state", s.state, "fraud", "clear", "1001")
    assert r.returncode == 0, r.stderr
    users_reloaded(s, before)
    c = Phone(s, "1001", USERS["1001"])
    busy(c, gw, s, f"sip:+442079460009@{DOMAIN}")   # the burst was forgiven with the hold
    r = run_cli("--state", s.state, "fraud", "list")
    assert "No user is on hold." in r.stdout
    gw.close()


def test_alert_on_many_destinations_without_hold(make_server, users_of):
    gw = Gateway("127.0.0.2")
    s = users_of(make_server(trunk_conf([gw], "\n[fraud]\nalert_destinations = 4\n")))
    a = Phone(s, "1001", USERS["1001"])
    for i in range(3):
        busy(a, gw, s, f"sip:+1212555010{i}@{DOMAIN}")
        busy(a, gw, s, f"sip:+1212555010{i}@{DOMAIN}")   # again: still one destination
    assert not events(s, "fraud.alert")
    # the fourth destination alerts, unless two of them share a bit of the
    # map (about 1 in 100 at four): then one of the next does
    for i in range(5):
        busy(a, gw, s, f"sip:+1313555010{i}@{DOMAIN}")
        if events(s, "fraud.alert"):
            break
    ev = events(s, "fraud.alert")
    assert len(ev) == 1 and "alert_destinations" in ev[0]["reason"], ev
    # [fraud] suspend is off: calls go on, and the same burst alerts once
    busy(a, gw, s, f"sip:+12125550110@{DOMAIN}")
    assert len(events(s, "fraud.alert")) == 1
    gw.close()


def test_calling_class_is_stored_not_written_to_the_file(make_server, users_of):
    gw = Gateway("127.0.0.2")
    s = users_of(make_server(trunk_conf([gw])))
    conf_before = open(s.conf_path).read()
    a = Phone(s, "1001", USERS["1001"])
    refused(a, f"sip:+442079460000@{DOMAIN}", "Calling Class Not Allowed")
    before = s.log_text().count("users reloaded from the store")
    r = run_cli("--state", s.state, "user", "set", "1001", "--calling", "international")
    assert r.returncode == 0 and "stored with the user" in r.stdout, r.stderr
    assert open(s.conf_path).read() == conf_before
    users_reloaded(s, before)           # no SIGHUP
    busy(a, gw, s, f"sip:+442079460000@{DOMAIN}")
    r = run_cli("--state", s.state, "user", "show", "1001")
    assert re.search(r"(?m)^calling\s+international$", r.stdout), r.stdout
    # the store wins over a [calling] line; "default" returns to the file's
    with open(s.conf_path, "a") as f:
        f.write("\n[calling]\n1001 = local\n")
    r = run_cli("--state", s.state, "config", "check")
    assert r.returncode == 0, r.stderr
    s.signal(__import__("signal").SIGHUP)
    s.wait_log("configuration reloaded", timeout=10)
    busy(a, gw, s, f"sip:+442079460001@{DOMAIN}")
    before = s.log_text().count("users reloaded from the store")
    r = run_cli("--state", s.state, "user", "set", "1001", "--calling", "default")
    assert r.returncode == 0, r.stderr
    users_reloaded(s, before)
    refused(a, f"sip:+12125550100@{DOMAIN}", "Calling Class Not Allowed")  # local only
    r = run_cli("--state", s.state, "user", "set", "1001", "--calling", "galactic")
    assert r.returncode == 2
    gw.close()


def test_call_records_of_outside_calls(make_server, users_of):
    g1, g2 = Gateway("127.0.0.2"), Gateway("127.0.0.3")
    s = users_of(make_server(trunk_conf([g1, g2], "\n[routes]\n+1 = gw1, gw2\n")))
    a = Phone(s, "1001", USERS["1001"])
    call(a, f"sip:1-212-555-0100@{DOMAIN}")
    _, inv, _ = g1.expect_invite()
    g1.respond(s, inv, 503, "Service Unavailable")
    _, inv, _ = g2.expect_invite()
    g2.respond(s, inv, 486, "Busy Here")
    a.expect_status(486, "INVITE")
    # refused attempts are recorded with their numbers too
    refused(a, f"sip:011442079460000@{DOMAIN}", "Calling Class Not Allowed")
    # and a call in from gw1 to a DID
    b = Phone(s, "1001", USERS["1001"])
    b.register()
    g1.invite(s, "+15551230001")
    _, inv, _ = b.expect_request("INVITE")
    b.respond(inv, 486, "Busy Here", "callee")
    g1.expect_status(486)
    recs = cdrs(s, wait_for=3)
    out = [r for r in recs if r.get("dialed") == "1-212-555-0100"]
    assert out and out[0]["peer"] == "gw2" and out[0]["class"] == "national" and \
        out[0]["number"] == "+12125550100" and out[0]["status"] == 486, recs
    intl = [r for r in recs if r.get("number") == "+442079460000"]
    assert intl and intl[0]["class"] == "international" and intl[0]["status"] == 403 and \
        intl[0]["peer"] == "", recs
    inbound = [r for r in recs if r.get("peer") == "gw1"]
    assert inbound and inbound[0]["number"] == "+15551230001", recs
    local = [r for r in recs if "peer" not in r]
    assert all("number" not in r for r in local)
    r = run_cli("--state", s.state, "cdr", "list")
    assert r.returncode == 0
    assert re.search(r"status 486 .* peer gw2  class national  dialed 1-212-555-0100  "
                     r"number \+12125550100", r.stdout), r.stdout
    g1.close()
    g2.close()


def test_per_peer_metrics_pass_promtool(make_server, users_of):
    """bastion_peer_up, bastion_peer_calls_total (out, in) and
    bastion_peer_failed_calls_total, per peer, in the Prometheus output."""
    import subprocess
    from conftest import free_port
    from test_metrics import PROMTOOL, scrape, value
    g1, g2 = Gateway("127.0.0.2"), Gateway("127.0.0.3")
    port = free_port()
    s = users_of(make_server(f"[metrics]\nlisten = 127.0.0.1:{port}\n" +
                             trunk_conf([g1, g2], "\n[routes]\n+1 = gw1, gw2\n")))
    a = Phone(s, "1001", USERS["1001"])
    busy(a, g1, s, f"sip:+12125550100@{DOMAIN}")
    cid, ok = connect(a, g1, s, f"sip:+12125550101@{DOMAIN}")
    hang_up(a, g1, s, cid, ok)
    b = Phone(s, "1001", USERS["1001"])
    b.register()
    g2.invite(s, "+15551230001")
    _, inv, _ = b.expect_request("INVITE")
    b.respond(inv, 486, "Busy Here", "callee")
    g2.expect_status(486)
    deadline = time.monotonic() + 5
    while True:
        text = scrape(port)
        if value(text, "bastion_peer_failed_calls_total", peer="gw1") == 1 or \
                time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert value(text, "bastion_peer_up", peer="gw1") == 1
    assert value(text, "bastion_peer_up", peer="gw2") == 1
    assert value(text, "bastion_peer_calls_total", peer="gw1", direction="out") == 2
    assert value(text, "bastion_peer_calls_total", peer="gw2", direction="in") == 1
    assert value(text, "bastion_peer_calls_total", peer="gw2", direction="out") == 0
    assert value(text, "bastion_peer_failed_calls_total", peer="gw1") == 1
    assert PROMTOOL, "promtool missing: scripts/deps.sh installs prometheus"
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    g1.close()
    g2.close()
