"""A peer's new calls per second (issue 12, docs/trunks.md "Caps"): the
[peer NAME] calls_per_second token bucket, each way apart.

- inbound: SIPp plays the carrier and sends a burst of INVITEs to a DID;
  those over the peer's rate get 503 with a Retry-After and event
  peer.rate_limit, the others are routed (480: the user is not registered);
- outbound: calls over the first peer's rate fail over to the route's next
  peer, like a peer that is down; with no peer left, 503 with a reason, a
  Retry-After and event peer.rate_limit, and nothing reaches the gateway.

No timing thresholds: the tests count what passed against the bucket's
bound for the time the burst really took (rate * seconds + the burst), and
send enough calls that the cap is hit unless the machine stalls for many
seconds.
"""
import os
import re
import subprocess
import time

from conftest import DOMAIN, Phone, events, hval
from test_trunks import (SCEN, USERS, Gateway, call, kernel_port, trunk_conf,  # noqa: F401
                         users_of)


def test_inbound_burst_over_the_peer_rate_gets_503(make_server, users_of, tmp_path):
    port = kernel_port("127.0.0.2")
    conf = trunk_conf([("127.0.0.2", port)]).replace(
        "[peer gw1]\n", "[peer gw1]\ncalls_per_second = 1\n")
    s = users_of(make_server(conf))
    text = open(os.path.join(SCEN, "carrier_burst_uac.xml")).read()
    path = tmp_path / "carrier_burst_uac.xml"
    path.write_text(text.replace("@DID@", "+15551230001").replace("@DOMAIN@", DOMAIN))
    calls = 20
    t0 = time.monotonic()
    r = subprocess.run(["sipp", "-sf", str(path), f"127.0.0.1:{s.port}", "-i", "127.0.0.2",
                        "-p", str(port), "-m", str(calls), "-r", "100", "-t", "u1", "-nostdin",
                        "-timeout", "60s", "-timeout_error", "-trace_err", "-error_file",
                        str(tmp_path / "err.log"), "-trace_logs", "-log_file",
                        str(tmp_path / "burst.log")],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path,
                       timeout=120)
    took = time.monotonic() - t0
    err = tmp_path / "err.log"
    assert r.returncode == 0, r.stdout[-1500:].decode(errors="replace") + \
        (err.read_text()[-1500:] if err.exists() else "")
    log = (tmp_path / "burst.log").read_text()
    passed, refused = log.count("GOT 480"), log.count("GOT 503")
    assert passed + refused == calls, log[-2000:]
    # a burst of 1, then 1 a second: never more than the bucket allows
    assert 1 <= passed <= 1 + int(took) + 1, (passed, took)
    assert refused >= 1
    ev = events(s, "peer.rate_limit")
    assert len(ev) == refused and ev[0]["status"] == 503, ev[:2]
    assert "calls_per_second" in ev[0]["reason"]


def test_outbound_over_the_rate_fails_over_then_503(make_server, users_of):
    g1, g2 = Gateway("127.0.0.2"), Gateway("127.0.0.3")
    conf = trunk_conf([g1, g2], "\n[routes]\n+1212 = gw1, gw2\n+1646 = gw1\n").replace(
        "[peer gw1]\n", "[peer gw1]\ncalls_per_second = 1\n")
    s = users_of(make_server(conf))
    a = Phone(s, "1001", USERS["1001"])

    def place(number, gws):
        """One call; the gateway of gws that got it (answered 486), or None
        when Bastion answered without reaching one."""
        cid = call(a, f"sip:{number}@{DOMAIN}")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for g in gws:
                try:
                    _, inv, _ = g.expect(lambda st, h: st.startswith("INVITE ") and
                                         hval(h, "Call-ID")[0] not in g.seen, timeout=0.1,
                                         what="INVITE")
                except AssertionError:
                    continue
                g.seen.add(hval(inv, "Call-ID")[0])
                g.respond(s, inv, 486, "Busy Here")
                a.expect_status(486, "INVITE")
                return g
            try:
                start, hdrs, _ = a.expect(lambda st, h: st.startswith("SIP/2.0 503 ") and
                                          hval(h, "Call-ID")[0] == cid, timeout=0.1)
                return start, hdrs
            except AssertionError:
                pass
        raise AssertionError(f"call {cid}: neither a gateway nor a 503")

    # the route gw1, gw2: over gw1's rate, the call goes to gw2
    t0, to_g1, to_g2 = time.monotonic(), 0, 0
    for _ in range(12):
        got = place("+12125550100", [g1, g2])
        to_g1 += got is g1
        to_g2 += got is g2
        if to_g2:
            break
    took = time.monotonic() - t0
    assert to_g2 == 1, (to_g1, to_g2)
    assert 1 <= to_g1 <= 1 + int(took) + 1, (to_g1, took)
    # the route gw1 alone: over its rate, 503 and an event; gw1 sees nothing
    refused = None
    for _ in range(12):
        got = place("+16465550100", [g1])
        if got is not g1:
            refused = got
            break
    assert refused is not None
    start, hdrs = refused
    assert start.startswith("SIP/2.0 503 Peer Call Rate Reached"), start
    assert re.fullmatch(r"[1-9][0-9]*", hval(hdrs, "Retry-After")[0].strip())
    g1.no_invite(0.5)
    ev = events(s, "peer.rate_limit")
    assert ev and ev[-1]["status"] == 503 and "calls_per_second" in ev[-1]["reason"], ev
    r = subprocess.run([os.environ.get("BASTION_BIN", "bastion"), "--state", s.state, "peer",
                        "show", "gw1"], capture_output=True, text=True)
    assert "at most 1 new calls a second" in r.stdout, r.stdout
    g1.close()
    g2.close()
