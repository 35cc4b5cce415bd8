"""Transport and media policy (issue 5, items 4 and 5) over plain transports:
sips: requests refused when they did not come over TLS, signaling =
tls-required refusing plain REGISTER and INVITE, media = srtp-required
refusing plain-RTP offers and answers. The TLS side of the same rules is in
test_tls.py."""
import time

from conftest import (DOMAIN, Phone, events, hval, import_users, request, status_of)

USERS = {"1001": "correct-horse-1001", "1002": "battery-staple-1002"}

PLAIN = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
         b"m=audio 4000 RTP/AVP 0\r\n")
SDES = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        b"m=audio 4000 RTP/SAVP 0\r\n"
        b"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n")


def start(make_server, tmp_path, conf=""):
    s = make_server(conf)
    import_users(s, USERS, tmp_path)
    return s


def test_sips_request_over_udp_refused(make_server, tmp_path):
    s = start(make_server, tmp_path)
    reply = s.udp(request("OPTIONS", uri=b"sips:1002@example.test"))
    assert status_of(reply) == (416, "SIPS Requires TLS")
    (ev,) = events(s, "sips.downgrade_refused")
    assert ev["status"] == 416 and ev["aor"] == "sips:1002@example.test"


def test_tls_required_refuses_plain_register_and_invite(make_server, tmp_path):
    s = start(make_server, tmp_path, "[policy]\nsignaling = tls-required")
    ph = Phone(s, "1001", USERS["1001"])
    ph.send(ph.request("REGISTER", f"sip:{DOMAIN}", f"sip:1001@{DOMAIN}", "r1@test", 1,
                       ["Expires: 60"]))
    _, hdrs, _ = ph.expect_status(403, "REGISTER")
    ph.send(ph.request("INVITE", f"sip:1002@{DOMAIN}", f"sip:1002@{DOMAIN}", "i1@test", 1))
    ph.expect_status(403, "INVITE")
    assert len(events(s, "policy.tls_required")) == 2
    # OPTIONS is not dialog-forming: still answered
    assert s.options_ok()


def test_srtp_required_refuses_plain_offer(make_server, tmp_path):
    s = start(make_server, tmp_path, "[policy]\nmedia = srtp-required")
    a, b = Phone(s, "1001", USERS["1001"]), Phone(s, "1002", USERS["1002"])
    a.register()
    b.register()
    call_id, _, _ = a.invite("1002", body=PLAIN)
    _, hdrs, _ = a.expect_status(488, "INVITE")
    b.nothing(0.5)
    (ev,) = events(s, "media.srtp_refused")
    assert "RTP/AVP" in ev["reason"] and ev["user"] == "1001"
    # an SRTP offer goes through, and an SRTP answer is passed on
    a.invite("1002", body=SDES)
    b.answer(ring_only=True)
    a.expect_status(180, "INVITE")


def test_srtp_required_ends_a_plain_answer(make_server, tmp_path):
    """The callee answers an SRTP offer with plain RTP: its leg is ACKed and
    BYEd by the proxy, and the caller gets 488, never the 200."""
    s = start(make_server, tmp_path, "[policy]\nmedia = srtp-required")
    a, b = Phone(s, "1001", USERS["1001"]), Phone(s, "1002", USERS["1002"])
    a.register()
    b.register()
    a.invite("1002", body=SDES)
    _, inv, _ = b.expect_request("INVITE")
    totag = "callee1"
    b.respond(inv, 200, "OK", totag, body=PLAIN)
    _, ack, _ = b.expect_request("ACK")
    assert hval(ack, "CSeq")[0].endswith(" ACK")
    _, bye, _ = b.expect_request("BYE")
    assert f"tag={totag}" in hval(bye, "To")[0]
    a.expect_status(488, "INVITE")
    assert not [q for q in a.queue if q.startswith(b"SIP/2.0 200")]
    (ev,) = events(s, "media.srtp_refused")
    assert "200 answer" in ev["reason"]
