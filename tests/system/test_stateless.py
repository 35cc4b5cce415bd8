"""Stateless behaviour over real sockets: OPTIONS answered by real clients'
standards, responses built per RFC 3261 8.2.6, errors with reasons, drops."""
import os
import re
import shutil
import signal
import socket
import subprocess

import pytest

from conftest import HAVE_IPV6, fill, header, request, status_of

SCENARIOS = os.path.join(os.path.dirname(__file__), "scenarios")


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_sipsak_options(server, transport):
    args = ["sipsak", "-s", f"sip:ping@127.0.0.1:{server.port}"]
    if transport == "tcp":
        args += ["-E", "tcp"]
    r = subprocess.run(args, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr  # 0: a 200 came back


@pytest.mark.parametrize("transport", ["u1", "t1"])
def test_sipp_options(make_server, tmp_path, transport):
    """200 OPTIONS from SIPp, all answered, no failed call. 200/s of
    unauthenticated requests from one address is a flood to the guard
    (test_guard.py); here SIPp is a monitoring system, allow-listed, and the
    test is about the stateless path."""
    server = make_server("[guard]\nallow = 127.0.0.1")
    r = subprocess.run(["sipp", "-sf", os.path.join(SCENARIOS, "options_uac.xml"),
                        "-m", "200", "-r", "200", "-t", transport, "-nostdin",
                        "-timeout", "30s", "-timeout_error", "-trace_stat",
                        "-stf", str(tmp_path / "stat.csv"),
                        f"127.0.0.1:{server.port}"],
                       capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]


def test_options_reply_per_rfc3261(server):
    req = request("OPTIONS")
    reply = server.udp(req)
    assert status_of(reply) == (200, "OK")
    via = header(reply, "Via")
    assert len(via) == 1
    # rport filled with our source port, received added (RFC 3581, 3261 18.2.1)
    assert re.search(r";rport=\d+", via[0]) and ";received=127.0.0.1" in via[0]
    to = header(reply, "To")[0]
    assert re.search(r";tag=[0-9a-f]{16}$", to)
    assert "OPTIONS" in header(reply, "Allow")[0]
    assert header(reply, "Content-Length") == ["0"]
    assert header(reply, "Call-ID") == [re.search(rb"Call-ID: (\S+)", req).group(1).decode()]
    assert header(reply, "CSeq") == ["1 OPTIONS"]
    # no software banner unless configured
    assert header(reply, "Server") == [] and header(reply, "User-Agent") == []


def test_retransmission_gets_the_same_response(server):
    """A retransmitted OPTIONS (same branch, same socket) is answered from the
    transaction with the same response, To-tag included."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(2)
        req = fill(request("OPTIONS"), s.getsockname()[1], "127.0.0.1")
        s.sendto(req, ("127.0.0.1", server.port))
        a = s.recv(70000)
        s.sendto(req, ("127.0.0.1", server.port))
        b = s.recv(70000)
    assert a == b


def test_options_over_tcp_and_ipv6(server):
    assert status_of(server.tcp(request("OPTIONS")))[0] == 200
    if HAVE_IPV6:
        assert status_of(server.udp(request("OPTIONS"), host="::1"))[0] == 200
        assert status_of(server.tcp(request("OPTIONS"), host="::1"))[0] == 200


def test_multiple_vias_copied_in_order(server):
    req = request("OPTIONS", extra=b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKsecond")
    # the extra Via comes after Content-Length... move it after the first Via
    lines = req.split(b"\r\n")
    extra = [l for l in lines if l.startswith(b"Via: SIP/2.0/UDP 192.0.2.1")][0]
    lines.remove(extra)
    lines.insert(2, extra)
    reply = server.udp(b"\r\n".join(lines))
    vias = header(reply, "Via")
    assert len(vias) == 2 and vias[1] == "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKsecond"


@pytest.mark.parametrize("method,code", [("FOOBAR", 501), ("PUBLISH", 405)])
def test_other_methods_refused(server, method, code):
    reply = server.udp(request(method))
    assert status_of(reply)[0] == code
    assert "OPTIONS" in header(reply, "Allow")[0]


def test_dialog_forming_requests_are_challenged(server):
    for method in ("INVITE", "MESSAGE", "SUBSCRIBE", "REFER"):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            s.settimeout(2)
            s.sendto(fill(request(method), s.getsockname()[1], "127.0.0.1"),
                     ("127.0.0.1", server.port))
            reply = s.recv(70000)
            # no 100 Trying before the challenge: an INVITE gets it only once
            # it may be forwarded (main 2c90beb)
        assert status_of(reply)[0] == 407, method


def test_cancel_without_transaction(server):
    assert status_of(server.udp(request("CANCEL")))[0] == 481


def test_ack_gets_no_reply(server):
    assert server.udp(request("ACK"), timeout=0.7) is None
    assert server.options_ok()


def test_require_gets_420_with_unsupported(server):
    reply = server.udp(request("OPTIONS", extra=b"Require: foo, bar\r\nProxy-Require: baz"))
    assert status_of(reply)[0] == 420
    assert header(reply, "Unsupported") == ["foo, bar, baz"]


def test_unknown_uri_scheme_416(server):
    reply = server.udp(request("OPTIONS", uri=b"nobody:example"))
    assert status_of(reply)[0] == 416


def test_stray_response_dropped(server):
    resp = (b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP $HOST:$PORT;branch=z9hG4bKx\r\n"
            b"From: <sip:a@example.test>;tag=1\r\nTo: <sip:b@example.test>;tag=2\r\n"
            b"Call-ID: stray@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
    assert server.udp(resp, timeout=0.7) is None
    assert server.options_ok()


def test_sigterm_stops_cleanly(make_server):
    s = make_server()
    s.signal(signal.SIGTERM)
    assert s.stop() == 0
    assert "stopped:" in s.log_text()


def test_server_header_only_when_configured(make_server):
    s = make_server("[server]\nserver_header = PBX")
    # set_conf-free append works: the key was commented out in its section
    assert header(s.udp(request("OPTIONS")), "Server") == ["PBX"]
