"""System-test harness: the real bastion binary on loopback, talked to with raw
sockets and real SIP clients (sipsak, SIPp).

Each `server` fixture creates a fresh state directory with `bastion init`,
starts `bastion serve` on a free port (UDP and TCP, IPv4 and, when the host has
it, IPv6), waits for its "ready" line, and at teardown stops it with SIGTERM
and fails the test if it did not exit cleanly or if the sanitizers reported
anything in its log. Every wait is bounded.
"""
import os
import re
import signal
import socket
import subprocess
import time
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("BASTION_BIN", os.path.join(ROOT, "build", "bastion"))
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "SUMMARY: UndefinedBehaviorSanitizer", "AddressSanitizer:DEADLYSIGNAL")


def have_ipv6():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


HAVE_IPV6 = have_ipv6()


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1 (and ::1 when present)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                    u.bind(("127.0.0.1", port))
                if HAVE_IPV6:
                    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                        with socket.socket(socket.AF_INET6, kind) as s6:
                            s6.bind(("::1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


def run_cli(*args, env=None, input=None, timeout=30):
    """Run the bastion command line; returns CompletedProcess (text)."""
    full_env = dict(os.environ)
    full_env.pop("BASTION_STATE", None)
    if env:
        full_env.update(env)
    return subprocess.run([BIN, *args], capture_output=True, text=True, env=full_env,
                          input=input, timeout=timeout)


def sanitizer_report(text):
    return [line for line in text.splitlines() if any(m in line for m in SANITIZER_MARKS)]


class Server:
    """One running bastion serve process."""

    def __init__(self, state, port, extra_conf="", domain="example.test", tls=False,
                 host="127.0.0.1", database=None, env=None):
        """host: the loopback address it listens on (and phones talk to);
        database: a PostgreSQL URL for `init --database`; env: extra
        environment for init and serve (PGPASSFILE)."""
        self.state = str(state)
        self.port = port
        self.host = host
        self.env = dict(env or {})
        self.tls_port = free_port() if tls else None
        self.log_path = os.path.join(self.state, "serve.log")
        listen = f"udp:{host}:{port},tcp:{host}:{port}"
        if HAVE_IPV6 and host == "127.0.0.1":
            listen += f",udp:[::1]:{port},tcp:[::1]:{port}"
        if tls:
            listen += f",tls:{host}:{self.tls_port}"
        args = ["init", "--state", self.state, "--domain", domain, "--listen", listen]
        if database:
            args += ["--database", database]
        r = run_cli(*args, env=self.env)
        assert r.returncode == 0, r.stderr
        if extra_conf:
            self.append_conf(extra_conf)
        self.proc = None

    @property
    def conf_path(self):
        return os.path.join(self.state, "bastion.conf")

    def append_conf(self, text):
        with open(self.conf_path, "a") as f:
            f.write("\n" + text + "\n")

    def set_conf(self, section, key, value):
        """Set one key by rewriting its line (or adding it to its section)."""
        with open(self.conf_path) as f:
            lines = f.read().splitlines()
        out, cur, done = [], None, False
        for line in lines:
            m = re.match(r"\[(\w+)\]", line)
            if m:
                if cur == section and not done:
                    out.append(f"{key} = {value}")
                    done = True
                cur = m.group(1)
            if cur == section and re.match(rf";?{key}\s*=", line):
                if not done:
                    out.append(f"{key} = {value}")
                    done = True
                continue
            out.append(line)
        if not done:
            if cur != section:
                out.append(f"[{section}]")
            out.append(f"{key} = {value}")
        with open(self.conf_path, "w") as f:
            f.write("\n".join(out) + "\n")

    def start(self):
        before = self.log_text().count("ready:") if os.path.exists(self.log_path) else 0
        self.log = open(self.log_path, "ab")
        env = dict(os.environ)
        env.pop("BASTION_STATE", None)
        env.update(self.env)
        self.proc = subprocess.Popen([BIN, "--state", self.state, "serve"],
                                     stdout=self.log, stderr=self.log, env=env)
        self.wait_log("ready:", timeout=15, count=before + 1)
        return self

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_log(self, text, timeout=10, count=1):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log_text().count(text) >= count:
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited ({self.proc.returncode}):\n{self.log_text()}")
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not in server log after {timeout}s:\n{self.log_text()}")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    RELOADED = "users reloaded from the store"

    def reloads(self):
        """How many times the running server has reloaded its users (and
        identities) from the store: take it before a CLI change, then
        wait_reload(it), a condition rather than a fixed sleep."""
        return self.log_text().count(self.RELOADED) if os.path.exists(self.log_path) else 0

    def wait_reload(self, before, timeout=30):
        self.wait_log(self.RELOADED, timeout=timeout, count=before + 1)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self):
        """SIGTERM; returns the exit code. Kills (and fails) after 20 s."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            before = self.log_text().count("stopping: finishing")
            self.proc.send_signal(signal.SIGTERM)
            # A graceful stop waits up to stop_grace for work in progress;
            # at teardown, a second signal ends it at once.
            deadline = time.monotonic() + 10
            while self.proc.poll() is None and time.monotonic() < deadline:
                if self.log_text().count("stopping: finishing") > before:
                    self.proc.send_signal(signal.SIGTERM)
                    break
                time.sleep(0.02)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                raise AssertionError("server did not stop within 20 s of SIGTERM")
        self.log.close()
        return self.proc.returncode

    # ---- talking to it -------------------------------------------------

    def udp(self, data, host="127.0.0.1", timeout=2.0, expect_reply=True):
        """Send one datagram; return the reply (bytes) or None on timeout."""
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(fam, socket.SOCK_DGRAM) as s:
            s.bind((host, 0))
            data = fill(data, s.getsockname()[1], host)
            s.settimeout(timeout)
            s.sendto(data, (host, self.port))
            try:
                return s.recv(70000)
            except socket.timeout:
                return None

    def tcp(self, data, host="127.0.0.1", timeout=3.0):
        """Send bytes on a new TCP connection; return everything received
        until the server closes or `timeout` passes without data."""
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(fam, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect((host, self.port))
            data = fill(data, s.getsockname()[1], host, transport="TCP")
            s.sendall(data)
            return recv_until_quiet(s, timeout)

    def options_ok(self, host="127.0.0.1"):
        reply = self.udp(request("OPTIONS"), host=host)
        return reply is not None and reply.startswith(b"SIP/2.0 200 ")


def recv_until_quiet(s, timeout):
    chunks = []
    deadline = time.monotonic() + timeout
    s.settimeout(0.5)
    while time.monotonic() < deadline:
        try:
            b = s.recv(65536)
        except socket.timeout:
            if chunks and b"\r\n\r\n" in b"".join(chunks):
                break
            continue
        except ConnectionResetError:
            break
        if not b:
            break
        chunks.append(b)
    return b"".join(chunks)


def fill(data, port, host, transport="UDP"):
    """Substitute $PORT, $HOST and $TRANSPORT in a message template."""
    h = f"[{host}]" if ":" in host else host
    return (data.replace(b"$PORT", str(port).encode()).replace(b"$HOST", h.encode())
            .replace(b"$TRANSPORT", transport.encode()))


def request(method, extra=b"", body=b"", uri=b"sip:ping@example.test", cseq_method=None,
            content_length=True):
    """A well-formed request template (see fill)."""
    cseq_method = cseq_method or method.encode()
    tag = uuid.uuid4().hex[:8].encode()
    lines = [
        method.encode() + b" " + uri + b" SIP/2.0",
        b"Via: SIP/2.0/$TRANSPORT $HOST:$PORT;branch=z9hG4bK" + uuid.uuid4().hex.encode() + b";rport",
        b"Max-Forwards: 70",
        b"From: <sip:tester@example.test>;tag=" + tag,
        b"To: <sip:ping@example.test>",
        b"Call-ID: " + uuid.uuid4().hex.encode() + b"@test",
        b"CSeq: 1 " + cseq_method,
    ]
    if extra:
        lines += extra.rstrip(b"\r\n").split(b"\r\n")
    if content_length:
        lines.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def status_of(reply):
    """(code, reason) of a response, or None."""
    if not reply:
        return None
    m = re.match(rb"SIP/2\.0 (\d{3}) ([^\r\n]*)\r\n", reply)
    return (int(m.group(1)), m.group(2).decode("utf-8", "replace")) if m else None


def header(reply, name):
    """All values of header `name` in a reply (case-insensitive)."""
    head = reply.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    return [line.split(":", 1)[1].strip() for line in head.split("\r\n")[1:]
            if ":" in line and line.split(":", 1)[0].strip().lower() == name.lower()]


@pytest.fixture
def make_server(tmp_path):
    """Factory: make_server(extra_conf="") -> started Server. Checks each one at teardown."""
    servers = []

    def make(extra_conf="", start=True, domain="example.test", tls=False, database=None,
             env=None):
        """database, env: as Server's (a PostgreSQL URL and its PGPASSFILE)."""
        s = Server(tmp_path / f"state{len(servers)}", free_port(), extra_conf, domain, tls,
                   database=database, env=env)
        servers.append(s)
        return s.start() if start else s

    yield make
    problems = []
    for s in servers:
        code = s.stop()
        text = s.log_text() if os.path.exists(s.log_path) else ""
        bad = sanitizer_report(text)
        if bad:
            problems.append(f"sanitizer report in {s.log_path}:\n" + "\n".join(bad[:20]))
        if code != 0:
            problems.append(f"server exited with {code}:\n{text[-3000:]}")
    assert not problems, "\n".join(problems)


@pytest.fixture
def server(make_server):
    return make_server()


# ---- digest authentication (RFC 7616 / 8760, qop=auth) -----------------------

import hashlib  # noqa: E402

DOMAIN = "example.test"


def ha1(user, password, realm=DOMAIN, algo="MD5"):
    h = hashlib.sha256 if algo == "SHA-256" else hashlib.md5
    return h(f"{user}:{realm}:{password}".encode()).hexdigest()


def import_users(server, users, tmp_path, name="users.csv", wait=True):
    """Provision users {name: password} through `bastion user import`; with a
    running server and `wait`, return once it has reloaded them."""
    path = tmp_path / name
    with open(path, "w") as f:
        for u, pw in users.items():
            f.write(f"{u},{DOMAIN},{ha1(u, pw)},{ha1(u, pw, algo='SHA-256')}\n")
    running = wait and isinstance(server, Server) and server.alive()
    logs_info = running and not re.search(r"^level\s*=\s*(warn|error)", open(server.conf_path).read(),
                                          re.M)
    before = server.reloads() if logs_info else 0
    r = run_cli("--state", server.state, "user", "import", str(path), timeout=120,
                env=getattr(server, "env", None))
    assert r.returncode == 0, r.stderr
    if logs_info:
        server.wait_reload(before)  # the running server serves them now
    elif running:
        wait_registers(server, *next(iter(users.items())))
    return path


def wait_registers(server, user, password, timeout=30):
    """Wait until `user` can register (a removal of no binding: nothing
    changes), i.e. the running server has loaded the user."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ph = Registrar(server, user, password)
        st = status_of(ph.register(expires=0, contact="*"))
        ph.close()
        if st and st[0] == 200:
            return
        time.sleep(0.1)
    raise AssertionError(f"{user} never became able to register")


def parse_challenges(reply):
    """[(algorithm, {param: value})] of the WWW-Authenticate headers."""
    out = []
    for v in header(reply, "WWW-Authenticate"):
        assert v.startswith("Digest ")
        params = dict((k, a or b) for k, a, b in
                      re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]+))', v[7:]))
        out.append((params.get("algorithm", "MD5"), params))
    return out


def digest_header(user, password, params, method, uri, algo, nc=1, cnonce="0a4f113b"):
    h = hashlib.sha256 if algo == "SHA-256" else hashlib.md5
    a1 = h(f"{user}:{params['realm']}:{password}".encode()).hexdigest()
    a2 = h(f"{method}:{uri}".encode()).hexdigest()
    ncs = f"{nc:08x}"
    resp = h(f"{a1}:{params['nonce']}:{ncs}:{cnonce}:auth:{a2}".encode()).hexdigest()
    return (f'Authorization: Digest username="{user}", realm="{params["realm"]}", '
            f'nonce="{params["nonce"]}", uri="{uri}", response="{resp}", '
            f'algorithm={algo}, cnonce="{cnonce}", qop=auth, nc={ncs}')


class Registrar:
    """A phone registering over UDP from one socket: keeps Call-ID and CSeq."""

    def __init__(self, server, user, password, to_user=None, host="127.0.0.1"):
        self.server, self.user, self.password = server, user, password
        self.to_user = to_user or user
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.port = self.sock.getsockname()[1]
        self.call_id = uuid.uuid4().hex + "@test"
        self.cseq = 0
        self.tag = uuid.uuid4().hex[:8]
        self.last_auth = None

    def close(self):
        self.sock.close()

    def request(self, auth=None, expires=3600, contact=None, extra=""):
        self.cseq += 1
        contact = contact if contact is not None else f"<sip:{self.to_user}@127.0.0.1:{self.port}>"
        lines = [
            f"REGISTER sip:{DOMAIN} SIP/2.0",
            f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch=z9hG4bK{uuid.uuid4().hex};rport",
            "Max-Forwards: 70",
            f"From: <sip:{self.to_user}@{DOMAIN}>;tag={self.tag}",
            f"To: <sip:{self.to_user}@{DOMAIN}>",
            f"Call-ID: {self.call_id}",
            f"CSeq: {self.cseq} REGISTER",
        ]
        if contact:
            lines.append(f"Contact: {contact}")
        if expires is not None:
            lines.append(f"Expires: {expires}")
        if auth:
            lines.append(auth)
        if extra:
            lines.append(extra)
        lines.append("User-Agent: bastion-tests")
        lines.append("Content-Length: 0")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def send(self, data, timeout=2.0):
        self.sock.settimeout(timeout)
        self.sock.sendto(data, (self.server.host, self.server.port))
        try:
            return self.sock.recv(70000)
        except socket.timeout:
            return None

    def register(self, algo="SHA-256", expires=3600, contact=None, password=None, extra=""):
        """REGISTER, answer the challenge for `algo`; returns the final reply."""
        first = self.send(self.request(expires=expires, contact=contact, extra=extra))
        if status_of(first)[0] != 401:
            return first
        chal = dict(parse_challenges(first))
        params = chal.get(algo) or chal.get("MD5")
        use = algo if algo in chal else "MD5"
        self.last_auth = digest_header(self.user, password or self.password, params,
                                       "REGISTER", f"sip:{DOMAIN}", use)
        return self.send(self.request(auth=self.last_auth, expires=expires, contact=contact,
                                      extra=extra))


def events(server, kind=None):
    """Security events (parsed JSON lines) of a server's state; the hash
    chain's checkpoint lines (docs/monitoring.md) are not events."""
    import json
    path = os.path.join(server.state, "security.log")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        evs = [json.loads(line) for line in f if line.strip()]
    evs = [e for e in evs if e.get("kind") != "log.checkpoint"]
    return [e for e in evs if kind is None or e["kind"] == kind]


# ---- a scriptable phone: registers, calls, answers, over UDP or TCP ----------

def parse_msg(data):
    """(start line, [(name, value)], body) of one SIP message."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("utf-8", "replace").split("\r\n")
    hdrs = []
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            hdrs.append((k.strip(), v.strip()))
    return lines[0], hdrs, body


def hval(msg_hdrs, name):
    return [v for k, v in msg_hdrs if k.lower() == name.lower()]


def tls_context(server, cert=None):
    """A client context that trusts the server's local CA (and presents
    `cert`, a (certfile, keyfile) pair, when given)."""
    import ssl
    ctx = ssl.create_default_context(cafile=os.path.join(server.state, "ca.crt"))
    if cert:
        ctx.load_cert_chain(*cert)
    return ctx


class Phone:
    """A SIP user agent on one socket (UDP) or one connection (TCP, TLS) to
    the server: everything it sends and receives goes that way, as a real
    phone behind NAT would. Messages received are queued and fetched with
    expect(). Over TLS it verifies the server's certificate for the domain
    against the state's ca.crt."""

    def __init__(self, server, user, password, transport="udp", cert=None):
        self.server, self.user, self.password, self.tp = server, user, password, transport
        if transport == "udp":
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind(("127.0.0.1", 0))
        elif transport == "tls":
            raw = socket.create_connection((server.host, server.tls_port), timeout=5)
            self.sock = tls_context(server, cert).wrap_socket(raw, server_hostname=DOMAIN)
        else:
            self.sock = socket.create_connection((server.host, server.port), timeout=5)
        self.port = self.sock.getsockname()[1]
        self.buf = b""
        self.queue = []
        self.cseq = 0
        self.tag = uuid.uuid4().hex[:8]

    def close(self):
        self.sock.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        if self.tp == "udp":
            self.sock.sendto(data, (self.server.host, self.server.port))
        else:
            self.sock.sendall(data)

    def _read(self, timeout):
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(70000)
        except (socket.timeout, BlockingIOError):
            return False
        if self.tp == "udp":
            self.queue.append(data)
            return True
        if not data:
            raise AssertionError("connection closed by the server")
        self.buf += data
        while b"\r\n\r\n" in self.buf:
            head, _, rest = self.buf.partition(b"\r\n\r\n")
            m = re.search(rb"(?im)^(?:content-length|l)\s*:\s*(\d+)", head)
            n = int(m.group(1)) if m else 0
            if len(rest) < n:
                break
            self.queue.append(head + b"\r\n\r\n" + rest[:n])
            self.buf = rest[n:]
        return True

    def expect(self, pred, timeout=5.0, what="message"):
        """The first queued or arriving message for which pred(start, hdrs) holds."""
        deadline = time.monotonic() + timeout
        while True:
            for i, data in enumerate(self.queue):
                start, hdrs, body = parse_msg(data)
                if pred(start, hdrs):
                    del self.queue[i]
                    return start, hdrs, body
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{self.user}: no {what} within {timeout}s; got "
                                     f"{[parse_msg(q)[0] for q in self.queue]}")
            self._read(min(left, 0.2))

    def expect_status(self, code, method=None, timeout=5.0):
        def pred(start, hdrs):
            return start.startswith(f"SIP/2.0 {code} ") and (
                method is None or hval(hdrs, "CSeq")[0].endswith(" " + method))
        return self.expect(pred, timeout, f"{code} {method or ''}")

    def expect_request(self, method, timeout=5.0):
        return self.expect(lambda s, h: s.startswith(method + " "), timeout, method)

    def nothing(self, seconds=0.7, keep=("SIP/2.0 1", "SIP/2.0 407")):
        """Assert nothing new arrives for a moment: provisional responses and
        407s already queued are dropped first (they are expected chatter)."""
        self.queue = [q for q in self.queue if not parse_msg(q)[0].startswith(keep)]
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._read(0.1)
        assert not self.queue, [parse_msg(q)[0] for q in self.queue]

    # -- building requests -------------------------------------------------

    @property
    def contact(self):
        t = f";transport={self.tp}" if self.tp != "udp" else ""
        return f"<sip:{self.user}@127.0.0.1:{self.port}{t}>"

    def via(self, branch=None):
        return (f"Via: SIP/2.0/{self.tp.upper()} 127.0.0.1:{self.port};"
                f"branch={branch or 'z9hG4bK' + uuid.uuid4().hex};rport")

    def request(self, method, ruri, to, call_id, cseq, extra=(), body=b"", from_user=None,
                branch=None, to_tag=None, from_tag=None):
        lines = [f"{method} {ruri} SIP/2.0", self.via(branch), "Max-Forwards: 70",
                 f"From: <sip:{from_user or self.user}@{DOMAIN}>;tag={from_tag or self.tag}",
                 f"To: <{to}>" + (f";tag={to_tag}" if to_tag else ""),
                 f"Call-ID: {call_id}", f"CSeq: {cseq} {method}", f"Contact: {self.contact}"]
        lines += list(extra)
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def register(self, expires=3600, code=200):
        """REGISTER, answer the 401, expect `code` to that; returns its
        (start line, headers, body)."""
        call_id = uuid.uuid4().hex
        uri = f"sip:{DOMAIN}"
        to = f"sip:{self.user}@{DOMAIN}"
        self.cseq += 1
        self.send(self.request("REGISTER", uri, to, call_id, self.cseq, [f"Expires: {expires}"]))
        _, hdrs, _ = self.expect_status(401, "REGISTER")
        chal = {}
        for v in hval(hdrs, "WWW-Authenticate"):
            params = dict((k, a or b) for k, a, b in
                          re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]+))', v[7:]))
            chal[params.get("algorithm", "MD5")] = params
        auth = digest_header(self.user, self.password, chal["SHA-256"], "REGISTER", uri, "SHA-256")
        self.cseq += 1
        self.send(self.request("REGISTER", uri, to, call_id, self.cseq,
                               [f"Expires: {expires}", auth]))
        return self.expect_status(code, "REGISTER")

    def invite(self, callee, extra=(), from_user=None, password=None, body=b"v=0\r\n"):
        """Send an INVITE, answer the 407; returns the Call-ID and the
        authenticated INVITE's branch (for CANCEL)."""
        call_id = uuid.uuid4().hex + "@test"
        ruri = f"sip:{callee}@{DOMAIN}"
        self.cseq += 1
        sdp = ["Content-Type: application/sdp"]
        first = "z9hG4bK" + uuid.uuid4().hex
        self.send(self.request("INVITE", ruri, ruri, call_id, self.cseq, list(extra) + sdp,
                               body, from_user=from_user, branch=first))
        _, hdrs, _ = self.expect_status(407, "INVITE")
        # the ACK for a non-2xx belongs to the INVITE's transaction: same branch
        tag = re.search(r";tag=([^;>\s]+)", hval(hdrs, "To")[0]).group(1)
        self.send(self.request("ACK", ruri, ruri, call_id, self.cseq, [], b"",
                               from_user=from_user, branch=first, to_tag=tag))
        chal = {}
        for v in hval(hdrs, "Proxy-Authenticate"):
            params = dict((k, a or b) for k, a, b in
                          re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]+))', v[7:]))
            chal[params.get("algorithm", "MD5")] = params
        auth = digest_header(self.user, password or self.password, chal["SHA-256"], "INVITE",
                             ruri, "SHA-256").replace("Authorization:", "Proxy-Authorization:")
        self.cseq += 1
        branch = "z9hG4bK" + uuid.uuid4().hex
        self.last_invite = self.request("INVITE", ruri, ruri, call_id, self.cseq,
                                        list(extra) + sdp + [auth], body,
                                        from_user=from_user, branch=branch)
        self.send(self.last_invite)
        return call_id, branch, self.cseq

    def answer(self, ring_only=False, code=200):
        """Take an INVITE: 180, then (unless ring_only) a final `code`.
        Returns (invite headers, our To tag)."""
        start, hdrs, body = self.expect_request("INVITE")
        totag = uuid.uuid4().hex[:8]
        self.respond(hdrs, 180, "Ringing", totag)
        if not ring_only:
            self.respond(hdrs, code, "OK" if code == 200 else "Busy Here", totag,
                         body=b"v=0\r\n" if code == 200 else b"")
        return hdrs, totag

    def respond(self, hdrs, code, reason, totag, body=b""):
        lines = [f"SIP/2.0 {code} {reason}"]
        lines += [f"Via: {v}" for v in hval(hdrs, "Via")]
        lines += [f"Record-Route: {v}" for v in hval(hdrs, "Record-Route")]
        lines.append(f"From: {hval(hdrs, 'From')[0]}")
        to = hval(hdrs, "To")[0]
        lines.append(f"To: {to}" + ("" if ";tag=" in to else f";tag={totag}"))
        lines += [f"Call-ID: {hval(hdrs, 'Call-ID')[0]}", f"CSeq: {hval(hdrs, 'CSeq')[0]}",
                  f"Contact: {self.contact}"]
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body)}")
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    def in_dialog(self, method, ok_hdrs, call_id, cseq, remote_tag, local_tag, from_me=True):
        """A request inside the dialog: Request-URI the remote Contact, Route
        the record-route set (reversed for the caller)."""
        target = re.search(r"<([^>]+)>", hval(ok_hdrs, "Contact")[0]).group(1)
        rr = hval(ok_hdrs, "Record-Route")
        routes = list(reversed(rr)) if from_me else rr
        lines = [f"{method} {target} SIP/2.0", self.via(), "Max-Forwards: 70",
                 f"From: <sip:{self.user}@{DOMAIN}>;tag={local_tag}",
                 f"To: <sip:peer@{DOMAIN}>;tag={remote_tag}",
                 f"Call-ID: {call_id}", f"CSeq: {cseq} {method}"]
        lines += [f"Route: {r}" for r in routes]
        lines.append("Content-Length: 0")
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode())


def cdrs(server, wait_for=1, timeout=3.0):
    """Call detail records (parsed JSON lines of cdr.log), waiting until at
    least `wait_for` are there; checkpoint lines of the hash chain are not
    records."""
    import json
    path = os.path.join(server.state, "cdr.log")
    deadline = time.monotonic() + timeout
    while True:
        recs = []
        if os.path.exists(path):
            with open(path) as f:
                recs = [json.loads(line) for line in f if line.strip()]
            recs = [r for r in recs if r.get("kind") != "log.checkpoint"]
        if len(recs) >= wait_for or time.monotonic() > deadline:
            return recs
        time.sleep(0.05)
