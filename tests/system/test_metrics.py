"""The metrics listener ([metrics]): Prometheus' text format over HTTP.

Real parts: `promtool check metrics` (Debian's prometheus package) must accept
what Bastion serves, and a real Prometheus server, started here with a scrape
configuration for Bastion on a port the kernel chose, must read a Bastion
metric back through its HTTP API. The listener's bad-input rules are checked
with raw sockets: only GET /metrics, 404/405/400, an oversized request cut
with 431, a slow one closed by the timeout, connections over the cap closed.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from conftest import Registrar, free_port, import_users, request, status_of

PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")


def metrics_conf(port, extra=""):
    return f"[metrics]\nlisten = 127.0.0.1:{port}\n{extra}"


def http(port, data, timeout=10.0):
    """Send raw bytes; return everything until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                b = s.recv(65536)
            except ConnectionResetError:
                break
            if not b:
                break
            chunks.append(b)
        return b"".join(chunks)


def scrape(port):
    raw = http(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n"), raw[:200]
    assert b"Content-Type: text/plain; version=0.0.4" in head
    m = re.search(rb"Content-Length: (\d+)", head)
    assert m and int(m.group(1)) == len(body)
    return body.decode()


def value(text, name, **labels):
    """The value of one sample, or None."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    key = f"{name}{{{want}}}" if labels else name
    for line in text.splitlines():
        if line.startswith(key + " "):
            return float(line.split()[-1])
    return None


@pytest.fixture
def mserver(make_server):
    port = free_port()
    s = make_server(metrics_conf(port))
    s.metrics_port = port
    return s


def test_off_by_default(make_server):
    s = make_server()
    assert "metrics on" not in s.log_text()
    with open(s.conf_path) as f:
        assert re.search(r"^;listen = $", f.read(), re.M)


def test_counts_requests_and_promtool_accepts(mserver):
    assert mserver.options_ok()
    text = scrape(mserver.metrics_port)
    assert value(text, "bastion_sip_requests_total", method="OPTIONS", transport="udp") == 1
    assert value(text, "bastion_sip_responses_sent_total", **{"class": "2xx"}) == 1
    assert value(text, "bastion_transactions_limit") == 65536
    assert value(text, "bastion_event_loop_lag_seconds_count") is not None
    assert PROMTOOL, "promtool missing: scripts/deps.sh installs prometheus"
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_malformed_and_auth_failures(mserver, tmp_path):
    """A malformed request is counted; a wrong password is an auth failure
    with its reason, and a security event of that kind."""
    reply = mserver.udp(request("OPTIONS").replace(b"Max-Forwards: 70", b"Max-Forwards: x"))
    assert status_of(reply)[0] == 400
    import_users(mserver, {"alice": "correct horse battery"}, tmp_path)
    mserver.wait_log("users reloaded", timeout=30)
    reg = Registrar(mserver, "alice", "wrong password!")
    try:
        assert status_of(reg.register())[0] == 403
    finally:
        reg.close()
    text = scrape(mserver.metrics_port)
    assert value(text, "bastion_sip_malformed_total", action="answered") == 1
    fails = [line for line in text.splitlines()
             if line.startswith("bastion_auth_failures_total{")]
    assert len(fails) == 1 and fails[0].endswith(" 1"), fails
    assert value(text, "bastion_sip_requests_total", method="REGISTER", transport="udp") == 2


def test_only_get_metrics(mserver):
    p = mserver.metrics_port
    assert http(p, b"POST /metrics HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 405 ")
    r = http(p, b"PUT /metrics HTTP/1.1\r\n\r\n")
    assert r.startswith(b"HTTP/1.1 405 ") and b"Allow: GET, HEAD\r\n" in r
    assert http(p, b"GET / HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 404 ")
    assert http(p, b"GET /metrics/../x HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 404 ")
    assert http(p, b"GET /metrics HTTP/9.9\r\n\r\n").startswith(b"HTTP/1.1 505 ")
    assert http(p, b"\x16\x03\x01\x00\xa5garbage\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    head = http(p, b"HEAD /metrics HTTP/1.1\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and head.endswith(b"\r\n\r\n")
    # SIP is untouched: nothing of this reached the SIP side
    text = scrape(p)
    assert value(text, "bastion_sip_messages_received_total") == 0
    assert mserver.options_ok()


def test_oversized_request_cut(make_server):
    port = free_port()
    s = make_server(metrics_conf(port, "max_request = 256"))
    r = http(port, b"GET /metrics HTTP/1.1\r\nX-Pad: " + b"a" * 600 + b"\r\n\r\n")
    assert r.startswith(b"HTTP/1.1 431 "), r[:100]
    # exactly at the bound it is still served
    req = b"GET /metrics HTTP/1.1\r\nX: "
    req += b"a" * (256 - len(req) - 4) + b"\r\n\r\n"
    assert len(req) == 256
    assert http(port, req).startswith(b"HTTP/1.1 200 ")
    assert s.options_ok()


def test_slow_request_cut_by_timeout(make_server):
    port = free_port()
    s = make_server(metrics_conf(port, "timeout = 1"))
    with socket.create_connection(("127.0.0.1", port), timeout=30) as c:
        c.sendall(b"GET /met")
        # the server closes it (no answer) once the timeout passes
        assert c.recv(100) == b""
    text = scrape(port)
    assert value(text, "bastion_metrics_timeouts_total") == 1
    assert s.options_ok()


def test_connection_cap(make_server):
    port = free_port()
    make_server(metrics_conf(port, "max_connections = 2\ntimeout = 300"))
    held = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(2)]
    try:
        held[0].sendall(b"GET")  # accepted: the server now holds both
        third = socket.create_connection(("127.0.0.1", port), timeout=30)
        try:
            assert third.recv(100) == b""  # closed at once, over the cap
        except ConnectionResetError:
            pass
        third.close()
    finally:
        for c in held:
            c.close()
    # the held ones are gone now; a scrape gets through and shows the refusal
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            text = scrape(port)
            break
        except AssertionError:
            time.sleep(0.1)
    assert value(text, "bastion_metrics_refused_total") >= 1


def test_bad_listen_refused(tmp_path):
    from conftest import run_cli
    st = str(tmp_path / "st")
    assert run_cli("init", "--state", st).returncode == 0
    with open(os.path.join(st, "bastion.conf"), "a") as f:
        f.write("\n[metrics]\nlisten = 127.0.0.1\n")
    r = run_cli("--state", st, "config", "check")
    assert r.returncode == 1 and "listen" in r.stderr and "address:port" in r.stderr


def issue_client_cert(server, tmp_path, name="prometheus"):
    from conftest import run_cli
    out = tmp_path / "issued"
    r = run_cli("--state", server.state, "tls", "issue", name, "--out", str(out))
    assert r.returncode == 0, r.stderr
    return str(out / f"{name}.crt"), str(out / f"{name}.key")


def tls_get(server, port, cert=None):
    """GET /metrics over HTTPS, trusting the state's CA; returns the bytes."""
    import ssl
    ctx = ssl.create_default_context(cafile=os.path.join(server.state, "ca.crt"))
    if cert:
        ctx.load_cert_chain(*cert)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
        with ctx.wrap_socket(raw, server_hostname="example.test") as c:
            c.sendall(b"GET /metrics HTTP/1.1\r\n\r\n")
            data = b""
            while True:
                b = c.recv(65536)
                if not b:
                    break
                data += b
            return data


def test_https_requires_a_client_certificate(make_server, tmp_path):
    import ssl
    port = free_port()
    s = make_server(metrics_conf(port, "tls = yes"))
    assert "metrics on https" in s.log_text()
    cert = issue_client_cert(s, tmp_path)
    r = tls_get(s, port, cert)
    assert r.startswith(b"HTTP/1.1 200 OK\r\n") and b"bastion_metrics_tls_failed_total 0" in r
    # no client certificate: the handshake fails, nothing is served
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
        tls_get(s, port, None)
    # plain HTTP to the HTTPS port gets no HTTP answer
    assert not http(port, b"GET /metrics HTTP/1.1\r\n\r\n").startswith(b"HTTP/")
    r = tls_get(s, port, cert)
    m = re.search(rb"^bastion_metrics_tls_failed_total (\d+)$", r, re.M)
    assert m and int(m.group(1)) >= 2
    assert s.options_ok()


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_prometheus_scrapes_bastion(make_server, tmp_path, scheme):
    """A real Prometheus server scrapes Bastion (over HTTPS with a client
    certificate, too); its API returns our metric."""
    assert PROMETHEUS, "prometheus missing: scripts/deps.sh installs it"
    port = free_port()
    mserver = make_server(metrics_conf(port, "tls = yes" if scheme == "https" else ""))
    mserver.metrics_port = port
    assert mserver.options_ok()
    assert mserver.options_ok()
    prom_port = free_port()
    tls = ""
    if scheme == "https":
        crt, key = issue_client_cert(mserver, tmp_path)
        tls = f"""    scheme: https
    tls_config:
      ca_file: {os.path.join(mserver.state, 'ca.crt')}
      cert_file: {crt}
      key_file: {key}
      server_name: example.test
"""
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(f"""global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: bastion
{tls}    static_configs:
      - targets: ['127.0.0.1:{mserver.metrics_port}']
""")
    log = open(tmp_path / "prometheus.log", "wb")
    proc = subprocess.Popen([PROMETHEUS, f"--config.file={cfg}",
                             f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{prom_port}"],
                            stdout=log, stderr=log)
    try:
        q = urllib.parse.quote('bastion_sip_requests_total{method="OPTIONS",transport="udp"}')
        url = f"http://127.0.0.1:{prom_port}/api/v1/query?query={q}"
        deadline = time.monotonic() + 120
        got = None
        while time.monotonic() < deadline and got is None:
            assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    body = json.load(r)
                res = body["data"]["result"]
                if res:
                    got = res[0]
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.5)
        assert got is not None, (tmp_path / "prometheus.log").read_text()[-3000:]
        assert got["metric"]["job"] == "bastion"
        assert float(got["value"][1]) == 2
        with urllib.request.urlopen(f"http://127.0.0.1:{prom_port}/api/v1/targets",
                                    timeout=5) as r:
            targets = json.load(r)["data"]["activeTargets"]
        assert [t["health"] for t in targets] == ["up"]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def test_docs_prometheus_config_and_rules_are_valid(tmp_path):
    """docs/monitoring.md: its prometheus.yml and alert rules pass promtool."""
    from conftest import ROOT
    doc = open(os.path.join(ROOT, "docs", "monitoring.md")).read()
    blocks = re.findall(r"```yaml\n(.*?)```", doc, re.S)
    config = [b for b in blocks if "scrape_configs:" in b]
    rules = [b for b in blocks if "groups:" in b]
    assert len(config) == 1 and len(rules) == 1
    (tmp_path / "prometheus.yml").write_text(config[0])
    (tmp_path / "bastion-rules.yml").write_text(rules[0])
    assert PROMTOOL, "promtool missing: scripts/deps.sh installs prometheus"
    r = subprocess.run([PROMTOOL, "check", "config", str(tmp_path / "prometheus.yml")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS: 11 rules found" in r.stdout, r.stdout
