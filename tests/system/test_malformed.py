"""Malformed input and limits over real sockets: each refusal is a 400 (or its
own status) with a reason naming the fault, or a silent drop when no response
can be routed; streams are framed, bounded and timed out; the server stays up."""
import socket
import time

import pytest

from conftest import header, request, status_of


def reason_of(reply):
    st = status_of(reply)
    assert st is not None, reply
    return st


def test_malformed_header_named_in_reason(server):
    reply = server.udp(request("OPTIONS").replace(b"Max-Forwards: 70", b"Max-Forwards: 7x0"))
    code, reason = reason_of(reply)
    assert code == 400 and "Max-Forwards" in reason
    assert server.options_ok()


def test_unreadable_cseq_is_dropped(server):
    """Without a readable CSeq no response can be built (RFC 3261 8.2.6): drop."""
    reply = server.udp(request("OPTIONS").replace(b"CSeq: 1 OPTIONS", b"CSeq: x OPTIONS"),
                       timeout=0.7)
    assert reply is None
    assert server.options_ok()


def test_cseq_method_mismatch(server):
    code, reason = reason_of(server.udp(request("OPTIONS", cseq_method=b"INVITE")))
    assert code == 400 and "CSeq" in reason


@pytest.mark.parametrize("cl", [b"-1", b"99999999999999999999", b"1x", b""])
def test_bad_content_length(server, cl):
    req = request("OPTIONS", content_length=False, extra=b"Content-Length: " + cl)
    code, reason = reason_of(server.udp(req))
    assert code == 400 and "Content-Length" in reason


def test_duplicated_single_value_header(server):
    code, reason = reason_of(server.udp(request("OPTIONS", extra=b"Max-Forwards: 69")))
    assert code == 400 and "Duplicate" in reason
    # a doubled Call-ID cannot be echoed unambiguously: dropped
    assert server.udp(request("OPTIONS", extra=b"Call-ID: second@test"), timeout=0.7) is None


def test_missing_call_id_is_dropped(server):
    """Without Call-ID no response can be built (RFC 3261 8.2.6): drop."""
    req = b"\r\n".join(l for l in request("OPTIONS").split(b"\r\n") if not l.startswith(b"Call-ID"))
    assert server.udp(req, timeout=0.7) is None
    assert server.options_ok()
    server.wait_log("dropped malformed message")


def test_garbage_is_dropped(server):
    for junk in (b"\x00" * 100, b"hello", b"\r\n\r\n", bytes(range(256)) * 4, b"INVITE"):
        assert server.udp(junk, timeout=0.3) is None
    assert server.options_ok()


def test_nul_and_bare_lf(server):
    req = request("OPTIONS", extra=b"X-Test: a\x00b")
    assert reason_of(server.udp(req))[0] == 400
    req = request("OPTIONS").replace(b"Max-Forwards: 70\r\n", b"Max-Forwards: 70\n")
    reply = server.udp(req, timeout=0.7)
    assert reply is None or status_of(reply)[0] == 400
    assert server.options_ok()


def test_version_505(server):
    req = request("OPTIONS").replace(b" SIP/2.0\r\n", b" SIP/7.0\r\n", 1)
    assert reason_of(server.udp(req))[0] == 505


def test_password_in_uri_refused(server):
    req = request("OPTIONS", uri=b"sip:ping:secret@example.test")
    code, reason = reason_of(server.udp(req))
    assert code == 400 and "assword" in reason


# ---- limits: each one configured small, hit, and answered with its own error

def test_limit_max_headers(make_server):
    s = make_server("[limits]\nmax_headers = 20")
    # request() writes 7 fields; 13 more make 20, at the limit
    ok = request("OPTIONS", extra=b"\r\n".join(b"X-H%d: v" % i for i in range(13)))
    assert reason_of(s.udp(ok))[0] == 200
    over = request("OPTIONS", extra=b"\r\n".join(b"X-H%d: v" % i for i in range(14)))
    code, reason = reason_of(s.udp(over))
    assert code == 400 and "Too Many Header" in reason


def test_limit_header_line(make_server):
    s = make_server("[limits]\nmax_header_line = 200")
    code, reason = reason_of(s.udp(request("OPTIONS", extra=b"X-Long: " + b"a" * 300)))
    assert code == 400 and "Too Long" in reason
    assert reason_of(s.udp(request("OPTIONS", extra=b"X-Long: " + b"a" * 100)))[0] == 200


def test_limit_uri(make_server):
    s = make_server("[limits]\nmax_uri = 64")
    code, _ = reason_of(s.udp(request("OPTIONS", uri=b"sip:" + b"u" * 80 + b"@example.test")))
    assert code == 414


def test_limit_body(make_server):
    s = make_server("[limits]\nmax_body = 100")
    req = request("OPTIONS", extra=b"Content-Type: text/plain", body=b"x" * 101)
    assert reason_of(s.udp(req))[0] == 413
    req = request("OPTIONS", extra=b"Content-Type: text/plain", body=b"x" * 100)
    assert reason_of(s.udp(req))[0] == 200


def test_limit_message_size_udp(make_server):
    s = make_server("[limits]\nmax_message = 2048\nmax_header_line = 4096")
    req = request("OPTIONS", extra=b"X-Pad: " + b"p" * 3000)
    assert reason_of(s.udp(req))[0] == 513
    assert s.options_ok()


def test_thousands_of_headers(server):
    req = request("OPTIONS", extra=b"\r\n".join(b"X: y" for _ in range(3000)))
    code, _ = reason_of(server.udp(req))
    assert code in (400, 513)
    assert server.options_ok()


# ---- streams ------------------------------------------------------------

def test_tcp_missing_content_length_400_then_close(server):
    req = request("OPTIONS", content_length=False)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(req.replace(b"$HOST", b"127.0.0.1").replace(b"$PORT", b"5060")
                  .replace(b"$TRANSPORT", b"TCP"))
        data = b""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            chunk = s.recv(4096)
            if not chunk:
                break  # closed by the server
            data += chunk
        else:
            pytest.fail("connection not closed")
    code, reason = reason_of(data)
    assert code == 400 and "Content-Length" in reason


def test_tcp_pipelined_messages(server):
    two = request("OPTIONS") + request("OPTIONS")
    data = server.tcp(two, timeout=2)
    assert data.count(b"SIP/2.0 200 OK") == 2


def test_tcp_header_timeout_cuts_slow_sender(make_server):
    s = make_server("[tcp]\nheader_timeout = 1")
    with socket.create_connection(("127.0.0.1", s.port), timeout=5) as c:
        c.sendall(b"OPTIONS sip:ping@example.test SIP/2.0\r\n")
        start = time.monotonic()
        closed = False
        while time.monotonic() - start < 5:
            try:
                c.sendall(b"X")  # one byte at a time, never finishing
            except OSError:
                closed = True
                break
            c.settimeout(0.3)
            try:
                if c.recv(100) == b"":
                    closed = True
                    break
            except socket.timeout:
                pass
        assert closed, "slow sender was not cut off"
    assert s.options_ok()  # others are served meanwhile


def test_tcp_idle_timeout(make_server):
    s = make_server("[tcp]\nidle_timeout = 1")
    with socket.create_connection(("127.0.0.1", s.port), timeout=5) as c:
        c.settimeout(5)
        start = time.monotonic()
        assert c.recv(10) == b""  # closed by the server
        assert time.monotonic() - start < 4.5


def test_tcp_connection_cap(make_server):
    s = make_server("[tcp]\nmax_connections = 3")
    held = [socket.create_connection(("127.0.0.1", s.port), timeout=5) for _ in range(3)]
    try:
        time.sleep(0.2)
        extra = socket.create_connection(("127.0.0.1", s.port), timeout=5)
        extra.settimeout(3)
        try:
            assert extra.recv(10) == b""  # over the cap: closed at once
        except ConnectionResetError:
            pass
        extra.close()
        # a held connection still works
        held[0].sendall(request("OPTIONS").replace(b"$HOST", b"127.0.0.1")
                        .replace(b"$PORT", b"5060").replace(b"$TRANSPORT", b"TCP"))
        held[0].settimeout(3)
        assert held[0].recv(4096).startswith(b"SIP/2.0 200")
    finally:
        for h in held:
            h.close()


def test_tcp_oversized_stream_closed(make_server):
    s = make_server("[limits]\nmax_message = 2048")
    data = s.tcp(b"OPTIONS sip:a@b SIP/2.0\r\n" + b"X: " + b"y" * 5000, timeout=3)
    assert data == b"" or status_of(data)[0] in (400, 513)
    assert s.options_ok()


def test_crlf_keepalive_answered(server):
    data = server.tcp(b"\r\n\r\n", timeout=1.5)
    assert data == b"\r\n"
