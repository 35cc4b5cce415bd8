"""A TLS peer whose certificate does not carry its tls_name (issue 12,
docs/trunks.md; RFC 5922 7.1). Two TLS gateways on their own loopback
addresses, with certificates from a test CA that [tls] peer_ca trusts (made
with the openssl command line): gw1's certificate names another host, gw2's
the right one. A call routed gw1 then gw2 never reaches gw1 (the handshake
is refused, event peer.tls_refused naming gw1) and fails over to gw2, which
answers over its TLS connection.
"""
import os
import re
import socket
import ssl
import subprocess
import threading
import time

from conftest import DOMAIN, Phone, events, hval, parse_msg
from test_trunks import USERS, call, users_of  # noqa: F401 (fixture)


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60, cwd=cwd)


def make_ca_and_certs(d):
    """A test CA and two leaf certificates: good (DNS:gw.good.test) and bad
    (DNS:other.test); returns the paths."""
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-days", "2", "-subj", "/CN=peer test CA", "-keyout", "ca.key", "-out", "ca.crt",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    for name, san in (("good", "gw.good.test"), ("bad", "other.test")):
        with open(os.path.join(d, f"{name}.ext"), "w") as f:
            f.write(f"subjectAltName=DNS:{san}\nextendedKeyUsage=serverAuth,clientAuth\n")
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-subj", f"/CN={san}", "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext",
                "-out", f"{name}.crt", cwd=d)
    return {k: os.path.join(d, k) for k in ("ca.crt", "good.crt", "good.key", "bad.crt",
                                            "bad.key")}


class TlsGateway:
    """A gateway on TLS: accepts connections in a thread, records whether a
    handshake completed and every request it read, and answers INVITEs 486."""

    def __init__(self, ip, cert, key):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((ip, 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.handshakes, self.failed, self.requests = 0, 0, []
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        deadline = time.monotonic() + 180
        while not self.stop and time.monotonic() < deadline:
            try:
                raw, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            raw.settimeout(90)
            try:
                conn = self.ctx.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError):
                self.failed += 1
                raw.close()
                continue
            self.handshakes += 1
            self._serve(conn)

    def _serve(self, conn):
        buf = b""
        deadline = time.monotonic() + 90
        while not self.stop and time.monotonic() < deadline:
            try:
                data = conn.recv(65536)
            except (socket.timeout, ssl.SSLError, OSError):
                break
            if not data:
                break
            buf += data
            while b"\r\n\r\n" in buf:
                head, _, rest = buf.partition(b"\r\n\r\n")
                m = re.search(rb"(?i)content-length:\s*(\d+)", head)
                n = int(m.group(1)) if m else 0
                if len(rest) < n:
                    break
                msg, buf = head + b"\r\n\r\n" + rest[:n], rest[n:]
                start, hdrs, _ = parse_msg(msg)
                self.requests.append(start)
                if start.startswith("INVITE "):
                    lines = ["SIP/2.0 486 Busy Here"] + [f"Via: {v}" for v in hval(hdrs, "Via")]
                    lines += [f"From: {hval(hdrs, 'From')[0]}",
                              f"To: {hval(hdrs, 'To')[0]};tag=tlsgw",
                              f"Call-ID: {hval(hdrs, 'Call-ID')[0]}",
                              f"CSeq: {hval(hdrs, 'CSeq')[0]}", "Content-Length: 0"]
                    conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        conn.close()

    def close(self):
        self.stop = True
        self.thread.join(timeout=5)
        self.sock.close()


def test_tls_peer_with_a_wrong_certificate_name_is_refused(make_server, users_of, tmp_path):
    certs = make_ca_and_certs(str(tmp_path))
    bad = TlsGateway("127.0.0.2", certs["bad.crt"], certs["bad.key"])
    good = TlsGateway("127.0.0.3", certs["good.crt"], certs["good.key"])
    conf = (f"[peer gw1]\naddress = tls:127.0.0.2:{bad.port}\ntls_name = gw.good.test\n"
            f"ping_interval = 0\n"
            f"[peer gw2]\naddress = tls:127.0.0.3:{good.port}\ntls_name = gw.good.test\n"
            f"ping_interval = 0\n"
            "[routes]\n+1 = gw1, gw2\n")
    s = make_server(conf, start=False, tls=True)
    with open(certs["ca.crt"]) as src, open(os.path.join(s.state, "peer-ca.crt"), "w") as dst:
        dst.write(src.read())
    s.set_conf("tls", "peer_ca", "peer-ca.crt")
    s.start()
    users_of(s)
    a = Phone(s, "1001", USERS["1001"])
    call(a, f"sip:+12125550100@{DOMAIN}")
    # gw1's handshake is refused at once: the event names it
    deadline = time.monotonic() + 15
    while not events(s, "peer.tls_refused") and time.monotonic() < deadline:
        time.sleep(0.1)
    ev = events(s, "peer.tls_refused")
    assert ev and ev[0]["user"] == "gw1" and "gw.good.test" in ev[0]["reason"], ev
    assert "hostname mismatch" in ev[0]["reason"], ev
    # the call fails over to gw2 once gw1's transaction times out (timer B)
    start, _, _ = a.expect_status(486, "INVITE", timeout=60)
    assert good.handshakes >= 1 and any(r.startswith("INVITE sip:+12125550100@127.0.0.3")
                                        for r in good.requests), good.requests
    assert bad.handshakes == 0 and not bad.requests       # nothing reached gw1
    assert not [e for e in ev if e["user"] == "gw2"]
    bad.close()
    good.close()
