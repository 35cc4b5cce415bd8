"""The RFC 4475 torture messages against the running server, over UDP and TCP,
judged by the manifest (tests/data/rfc4475/MANIFEST.tsv): valid requests are
answered (never 400), malformed ones refused with 400 (or their preferred
code) or dropped, responses never answered; the server survives them all."""
import csv
import errno
import os
import re
import socket
import time

import pytest

from conftest import ROOT, status_of

DATA = os.path.join(ROOT, "tests", "data", "rfc4475")
SOURCE_IP = "127.0.0.3"  # replies without rport go to the Via port on this address


def manifest():
    with open(os.path.join(DATA, "MANIFEST.tsv")) as f:
        return list(csv.DictReader(f, delimiter="\t"))


ROWS = manifest()


def via_port(msg):
    m = re.search(rb"^(?:Via|v)\s*:\s*SIP\s*/\s*2\.0\s*/\s*\w+\s+[^\s;:,]+(?::(\d+))?",
                  msg, re.I | re.M)
    return int(m.group(1)) if m and m.group(1) else 5060


def send_udp(server, msg, timeout):
    """Send from SOURCE_IP, bound where a reply without rport will arrive."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # The reply goes to the Via's port (no rport in these messages), so
        # that port it must be. Another program on the machine may hold it
        # for a moment (a SIP client on its default 5060): wait for it.
        deadline = time.monotonic() + 30
        while True:
            try:
                s.bind((SOURCE_IP, via_port(msg)))
                break
            except OSError as e:
                if e.errno != errno.EADDRINUSE or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        s.settimeout(timeout)
        s.sendto(msg, ("127.0.0.1", server.port))
        replies = []
        try:
            while True:
                replies.append(s.recv(70000))
                s.settimeout(0.3)  # collect any second reply (must not exist)
        except socket.timeout:
            pass
        return replies


def judge(row, replies, transport):
    # final responses only: an INVITE also gets 100 Trying from the proxy
    codes = [status_of(r)[0] for r in replies if status_of(r) and status_of(r)[0] >= 200]
    name = row["name"]
    if row["runner_class"] == "noreply":
        assert codes == [], f"{name}: a response was answered: {codes}"
        return
    if len(codes) > 1:
        pytest.fail(f"{name}: {len(codes)} responses to one message: {codes}")
    code = codes[0] if codes else None
    preferred = {int(c) for c in row["preferred_codes"].split(",") if c}
    if row["expected"] == "valid" and row["runner_class"] == "parse":
        assert code is not None, f"{name}: valid request not answered"
        assert code != 400, f"{name}: valid request refused as malformed"
    elif row["expected"] == "valid" and row["runner_class"] == "reject":
        assert code is not None, f"{name}: not answered"
        # 405/501: the method is not served yet at this stage; never 2xx or 400
        assert code in preferred | {405, 501}, f"{name}: got {code}, want {preferred}"
    elif row["expected"] == "invalid" and row["runner_class"] == "reject":
        assert code is None or code in preferred | {400}, f"{name}: got {code}"
        if code is None and transport == "udp":
            # only a message whose reply cannot be routed may be dropped
            assert name in ("insuf", "test", "baddn.orig", "badinv01", "quotbal",
                            "lwsruri", "ltgtruri", "badaspec", "multi01", "scalar02",
                            "mismatch01", "ncl", "clerr", "mcl01", "escruri",
                            "baddn", "badvers", "mismatch02"), f"{name}: dropped"
    # tolerant: any handling but a crash; 2xx for a malformed INVITE is still wrong
    if row["expected"] == "invalid" and code is not None:
        assert not 200 <= code < 300, f"{name}: malformed message accepted with {code}"


@pytest.fixture
def server(make_server):
    """A server for the messages' own domain, so that REGISTERs reach the
    registrar (e.g. regaut01 wants its 401) instead of 403 for a foreign one."""
    return make_server(domain="example.com")


@pytest.mark.parametrize("row", ROWS, ids=[r["name"] for r in ROWS])
def test_udp(server, row):
    msg = open(os.path.join(DATA, row["file"]), "rb").read()
    judge(row, send_udp(server, msg, timeout=1.0), "udp")
    assert server.options_ok()


def test_tcp_all(server):
    """Each message on its own connection; an unframeable one may be closed."""
    for row in ROWS:
        msg = open(os.path.join(DATA, row["file"]), "rb").read()
        data = server.tcp(msg, timeout=1.0)
        st = status_of(data)
        if row["runner_class"] == "noreply":
            assert st is None, row["name"]
        if row["expected"] == "invalid" and st:
            assert not 200 <= st[0] < 300, row["name"]
        if row["expected"] == "valid" and row["runner_class"] == "parse" and \
                row["name"] not in ("dblreq", "mpart01"):
            # (dblreq is two messages; mpart01's Content-Length frames it, either way)
            assert st is not None and st[0] != 400, (row["name"], data[:200])
    assert server.options_ok()
