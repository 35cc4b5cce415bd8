"""Remote logging over TLS ([log] remote, RFC 5425) to a real log server:
Debian's rsyslog with its TLS input (imtcp, gtls driver) in mutual-TLS mode
(x509/name: only the peer named example.test, Bastion's own certificate, may
send), started here on a port the kernel chose.

Checked: every event arrives, in order, as an RFC 5424 message whose MSG is
the security log's line; events survive the log server being stopped and
restarted (queued on disk); a log server whose certificate carries the wrong
name is refused; the framing is octet counting (read byte for byte by a
Python TLS server, which then sends garbage and is disconnected); a full
queue drops the oldest events, counts them in a metric and reports a
log.remote_dropped event, and the SIP side keeps answering.

Events are made cheaply: with [policy] signaling = tls-required, each REGISTER
over UDP is refused with 403 and one policy.tls_required event.
"""
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import free_port, status_of

RSYSLOGD = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
DOMAIN = "example.test"


def openssl(*args, cwd):
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


@pytest.fixture
def pki(tmp_path):
    """A CA for the log server, and two server certificates: logs.test and
    other.test."""
    d = tmp_path / "pki"
    d.mkdir()
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=test log CA", "-days", "2",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign", cwd=d)
    for name in ("logs.test", "other.test"):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
        (d / f"{name}.ext").write_text(f"subjectAltName=DNS:{name}\n"
                                       "extendedKeyUsage=serverAuth\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.crt", "-days", "2",
                "-extfile", f"{name}.ext", cwd=d)
    return d


class Rsyslog:
    """rsyslogd in the foreground with a TLS input that requires a client
    certificate from Bastion's CA naming example.test."""

    def __init__(self, tmp_path, pki, bastion_ca, port, cert="logs.test"):
        self.dir = tmp_path / f"rsyslog-{port}"
        self.dir.mkdir(exist_ok=True)
        self.port = port
        self.out = self.dir / "received.log"
        cas = self.dir / "cas.pem"
        cas.write_text((pki / "ca.crt").read_text() + open(bastion_ca).read())
        self.conf = self.dir / "rsyslog.conf"
        self.conf.write_text(f"""
global(workDirectory="{self.dir}" maxMessageSize="64k"
       defaultNetstreamDriver="gtls"
       defaultNetstreamDriverCAFile="{cas}"
       defaultNetstreamDriverCertFile="{pki / (cert + '.crt')}"
       defaultNetstreamDriverKeyFile="{pki / (cert + '.key')}")
module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1"
       streamDriver.authMode="x509/name" permittedPeer=["{DOMAIN}"])
input(type="imtcp" port="{port}")
template(name="raw" type="string" string="%rawmsg%\\n")
*.* action(type="omfile" file="{self.out}" template="raw")
""")
        self.proc = None

    def start(self):
        self.log = open(self.dir / "rsyslogd.out", "ab")
        self.proc = subprocess.Popen([RSYSLOGD, "-n", "-f", str(self.conf),
                                      "-i", str(self.dir / "rsyslogd.pid")],
                                     stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (self.dir / "rsyslogd.out").read_text()
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise AssertionError("rsyslogd did not listen within 60 s")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc:
            self.log.close()
        self.proc = None

    def messages(self):
        if not self.out.exists():
            return []
        return [x for x in self.out.read_text(errors="replace").splitlines() if x]

    def wait_count(self, n, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.messages()) >= n:
                return self.messages()
            time.sleep(0.2)
        raise AssertionError(f"{len(self.messages())} of {n} messages arrived:\n"
                             + "\n".join(self.messages()[-5:]))


@pytest.fixture
def rsyslogs():
    started = []
    yield started
    for r in started:
        r.stop()


BASE_CONF = """[policy]
signaling = tls-required
[guard]
allow = 127.0.0.1
"""


def remote_conf(port, pki, name="logs.test", extra=""):
    return (f"[log]\nremote = tls:127.0.0.1:{port}\nremote_ca = {pki / 'ca.crt'}\n"
            f"remote_name = {name}\n{extra}")


def make_events(server, n, ua="phone"):
    """n REGISTERs over UDP, each refused 403 with one security event."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(5)
    port = s.getsockname()[1]
    try:
        for i in range(n):
            msg = (f"REGISTER sip:{DOMAIN} SIP/2.0\r\n"
                   f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{os.urandom(8).hex()};rport\r\n"
                   f"Max-Forwards: 70\r\nFrom: <sip:u{i}@{DOMAIN}>;tag={i}\r\n"
                   f"To: <sip:u{i}@{DOMAIN}>\r\nCall-ID: ev{i}-{os.urandom(4).hex()}\r\n"
                   f"CSeq: 1 REGISTER\r\nUser-Agent: {ua}\r\nContent-Length: 0\r\n\r\n")
            s.sendto(msg.encode("utf-8"), ("127.0.0.1", server.port))
            assert status_of(s.recv(65536))[0] == 403
    finally:
        s.close()


def security_lines(server):
    """The server's events: not the checkpoints, nor the admin.* events the
    command line writes into the same file (bastion init, user import: the
    log server gets what the server sends)."""
    with open(os.path.join(server.state, "security.log")) as f:
        return [x for x in f.read().splitlines()
                if '"log.checkpoint"' not in x and '"kind":"admin.' not in x]


SYSLOG = re.compile(r"^<(\d+)>1 (\S+) (\S+) bastion (\d+) (\S+) - (.*)$")


def json_part(msg):
    m = SYSLOG.match(msg)
    assert m, msg
    return m


def test_every_event_arrives_in_order(make_server, pki, rsyslogs, tmp_path):
    port = free_port()
    s = make_server(BASE_CONF, start=False)
    r = Rsyslog(tmp_path, pki, os.path.join(s.state, "ca.crt"), port).start()
    rsyslogs.append(r)
    s.append_conf(remote_conf(port, pki))
    s.start()
    make_events(s, 20)
    msgs = r.wait_count(20)
    local = security_lines(s)
    assert len(local) == 20
    got = [json_part(m) for m in msgs]
    assert [m.group(6) for m in got] == local  # the same lines, in order
    for m in got:
        assert m.group(1) == str(4 * 8 + 5)  # auth facility, notice
        assert m.group(5) == "policy.tls_required"
    seqs = [json.loads(m.group(6))["seq"] for m in got]
    assert seqs == list(range(seqs[0], seqs[0] + 20))  # one chain, nothing missing


def test_survives_log_server_restart(make_server, pki, rsyslogs, tmp_path):
    port = free_port()
    s = make_server(BASE_CONF, start=False)
    r = Rsyslog(tmp_path, pki, os.path.join(s.state, "ca.crt"), port).start()
    rsyslogs.append(r)
    s.append_conf(remote_conf(port, pki))
    s.start()
    make_events(s, 5)
    r.wait_count(5)
    r.stop()
    make_events(s, 10)  # the log server is down: queued on disk
    assert s.options_ok()  # SIP goes on meanwhile
    queue = os.path.join(s.state, "remote-queue")
    assert any(f.startswith("seg-") for f in os.listdir(queue))
    r.start()
    msgs = r.wait_count(15)
    assert [json_part(m).group(6) for m in msgs] == security_lines(s)


def test_wrong_certificate_name_refused(make_server, pki, rsyslogs, tmp_path):
    port = free_port()
    s = make_server(BASE_CONF, start=False)
    r = Rsyslog(tmp_path, pki, os.path.join(s.state, "ca.crt"), port, cert="other.test").start()
    rsyslogs.append(r)
    s.append_conf(remote_conf(port, pki, name="logs.test"))
    s.start()
    make_events(s, 3)
    s.wait_log("certificate refused", timeout=60)
    assert r.messages() == []
    assert s.options_ok()


class RawTLSServer(threading.Thread):
    """A TLS server that requires Bastion's certificate, records the bytes of
    each connection, and after the first messages sends garbage."""

    def __init__(self, pki, bastion_ca, garbage_after=3):
        super().__init__(daemon=True)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(pki / "logs.test.crt"), str(pki / "logs.test.key"))
        ctx.load_verify_locations(bastion_ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
        self.ctx = ctx
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(1)
        self.port = self.sock.getsockname()[1]
        self.conns = []  # bytes received per connection
        self.peer_names = []
        self.garbage_after = garbage_after
        self.done = threading.Event()

    def frames_of(self, data, strict=True):
        """Split octet-counted frames; asserts the framing is exact (not
        strict: a frame still arriving at the end is left out)."""
        out = []
        while data:
            m = re.match(rb"([1-9][0-9]*) ", data)
            if not m and not strict and re.fullmatch(rb"[0-9]*", data):
                break
            assert m, data[:80]
            n = int(m.group(1))
            start = m.end()
            if not strict and len(data) < start + n:
                break
            assert len(data) >= start + n, "a frame cut short"
            out.append(data[start:start + n])
            data = data[start + n:]
        return out

    def run(self):
        deadline = time.monotonic() + 180
        while not self.done.is_set() and time.monotonic() < deadline:
            try:
                raw, _ = self.sock.accept()
            except socket.timeout:
                continue
            try:
                c = self.ctx.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError):
                raw.close()
                continue
            cert = c.getpeercert()
            self.peer_names.append(dict(x[0] for x in cert["subject"]).get("commonName"))
            buf = bytearray()
            self.conns.append(buf)
            first = len(self.conns) == 1
            c.settimeout(0.5)
            sent_garbage = False
            while time.monotonic() < deadline and not self.done.is_set():
                try:
                    b = c.recv(65536)
                except socket.timeout:
                    continue
                except (ssl.SSLError, OSError):
                    break
                if not b:
                    break
                buf += b
                if first and not sent_garbage and len(self.frames_of(bytes(buf), strict=False)) >= self.garbage_after:
                    c.sendall(b"HELLO garbage\r\n")
                    sent_garbage = True
            c.close()
        self.sock.close()

    def all_frames(self, strict=False):
        out = []
        for data in list(self.conns):
            out += self.frames_of(bytes(data), strict)
        return out


def test_octet_counting_and_garbage_disconnect(make_server, pki, tmp_path):
    s = make_server(BASE_CONF, start=False)
    srv = RawTLSServer(pki, os.path.join(s.state, "ca.crt"))
    srv.start()
    try:
        s.append_conf(remote_conf(srv.port, pki))
        s.start()
        make_events(s, 3)
        # the server answers with garbage: Bastion disconnects, then comes back
        s.wait_log("the log server sent data; disconnecting", timeout=60)
        make_events(s, 2)
        s.wait_log("connected", timeout=120, count=2)
        local = security_lines(s)
        assert len(local) == 5
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            msgs = [f.decode() for f in srv.all_frames()]
            if {json_part(m).group(6) for m in msgs} >= set(local):
                break
            time.sleep(0.2)
        assert {json_part(m).group(6) for m in msgs} >= set(local)
        assert len(srv.conns) >= 2
    finally:
        srv.done.set()
        srv.join(timeout=30)
    # every byte was LEN SP MSG frames, LEN the exact length of MSG
    msgs = [f.decode() for f in srv.all_frames(strict=True)]
    assert {json_part(m).group(6) for m in msgs} >= set(local)
    assert srv.peer_names and all(n == DOMAIN for n in srv.peer_names)


def test_full_queue_drops_oldest(make_server, pki, rsyslogs, tmp_path):
    port = free_port()
    mport = free_port()
    s = make_server(BASE_CONF + f"[metrics]\nlisten = 127.0.0.1:{mport}\n", start=False)
    s.append_conf(remote_conf(port, pki, extra="remote_queue_size = 256\n"))
    s.start()  # nothing listens on port: everything queues
    ua = "\u00e9" * 100  # UTF-8, escaped byte by byte: big lines, a full queue sooner
    make_events(s, 300, ua=ua)
    deadline = time.monotonic() + 60
    dropped = 0
    while time.monotonic() < deadline and not dropped:
        with socket.create_connection(("127.0.0.1", mport), timeout=10) as c:
            c.sendall(b"GET /metrics HTTP/1.1\r\n\r\n")
            text = b""
            while True:
                b = c.recv(65536)
                if not b:
                    break
                text += b
        m = re.search(rb"^bastion_remote_log_dropped_total (\d+)$", text, re.M)
        dropped = int(m.group(1)) if m else 0
        q = re.search(rb"^bastion_remote_log_queue_bytes (\d+)$", text, re.M)
        assert q and int(q.group(1)) <= 256 * 1024
    assert dropped > 0
    assert s.options_ok()
    # the drop is an event too
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any('"log.remote_dropped"' in x
                                                   for x in security_lines(s)):
        time.sleep(0.1)
    assert any('"log.remote_dropped"' in x for x in security_lines(s))
    # the log server comes up: what is left arrives, oldest gone, in order
    r = Rsyslog(tmp_path, pki, os.path.join(s.state, "ca.crt"), port).start()
    rsyslogs.append(r)
    local = security_lines(s)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        got = [json_part(m).group(6) for m in r.messages()]
        if got and got[-1] == local[-1]:
            break
        time.sleep(0.2)
    got = [json_part(m).group(6) for m in r.messages()]
    assert got and got[-1] == local[-1]
    assert len(got) < len(local)
    first = local.index(got[0])
    assert first > 0 and got == local[first:first + len(got)]
