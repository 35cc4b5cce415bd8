"""TLS against the real binary: the certificates `bastion init` and `bastion
tls issue` make, REGISTER and a call between two phones over TLS, what the
server refuses (TLS 1.0/1.1, RSA key exchange, CBC, renegotiation) and what it
accepts (TLS 1.2 and 1.3 with the AEAD suites, no compression, session
resumption), certificate reload on SIGHUP with an open connection kept, a bad
certificate refused on reload, the handshake deadline, client certificates,
passphrase-protected keys, and the library guard.

Clients: Python's ssl module and `openssl s_client` (the Debian SIPp is built
without TLS)."""
import os
import re
import signal
import socket
import ssl
import stat
import subprocess
import time
import uuid

import pytest

from conftest import (DOMAIN, BIN, Phone, events, free_port, hval, import_users, recv_until_quiet,
                      request, fill, run_cli, status_of, tls_context)

USERS = {"1001": "correct-horse-1001", "1002": "battery-staple-1002"}


@pytest.fixture
def tls_server(make_server, tmp_path):
    s = make_server(tls=True)
    import_users(s, USERS, tmp_path)
    return s


def state_file(server, name):
    return os.path.join(server.state, name)


def s_client(server, *args, stdin=b"", timeout=10):
    """Run openssl s_client against the server's TLS port; returns its
    combined output (text)."""
    cmd = ["openssl", "s_client", "-connect", f"127.0.0.1:{server.tls_port}",
           "-CAfile", state_file(server, "ca.crt"), "-servername", DOMAIN, *args]
    r = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout)
    return (r.stdout + r.stderr).decode("utf-8", "replace")


def tls_connect(server, ctx=None, session=None, verify=True):
    if ctx is None:
        ctx = tls_context(server)
        if not verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection(("127.0.0.1", server.tls_port), timeout=5)
    return ctx.wrap_socket(raw, server_hostname=DOMAIN, session=session)


def options(sock):
    """Send OPTIONS on an open TLS connection; return the reply."""
    port = sock.getsockname()[1]
    sock.sendall(fill(request("OPTIONS"), port, "127.0.0.1", transport="TLS"))
    return recv_until_quiet(sock, 3.0)


def openssl_verify(*args):
    return subprocess.run(["openssl", "verify", *args], capture_output=True, text=True)


def cert_text(path):
    return subprocess.run(["openssl", "x509", "-in", path, "-noout", "-text"],
                          capture_output=True, text=True, check=True).stdout


def der_of(path):
    return ssl.PEM_cert_to_DER_cert(open(path).read())


# ---- certificates made by the command line ------------------------------------

def test_init_makes_ca_and_server_certificate(tmp_path):
    state = str(tmp_path / "st")
    r = run_cli("init", "--state", state, "--domain", "pbx.example.test")
    assert r.returncode == 0, r.stderr
    for key in ("ca.key", "server.key"):
        mode = stat.S_IMODE(os.stat(os.path.join(state, key)).st_mode)
        assert mode == 0o600, (key, oct(mode))
        assert "BEGIN PRIVATE KEY" in open(os.path.join(state, key)).read()
    ca, crt = os.path.join(state, "ca.crt"), os.path.join(state, "server.crt")
    for host in ("pbx.example.test",):
        v = openssl_verify("-CAfile", ca, "-purpose", "sslserver", "-verify_hostname", host, crt)
        assert v.returncode == 0, v.stdout + v.stderr
    for ip in ("127.0.0.1", "::1"):
        v = openssl_verify("-CAfile", ca, "-verify_ip", ip, crt)
        assert v.returncode == 0, v.stdout + v.stderr
    text = cert_text(crt)
    assert "ASN1 OID: prime256v1" in text and "ecdsa-with-SHA256" in text
    assert "CA:TRUE" in cert_text(ca) and "CA:FALSE" in text
    # the default listen list serves TLS on loopback
    conf = open(os.path.join(state, "bastion.conf")).read()
    assert re.search(r"^listen = .*tls:127\.0\.0\.1:5061", conf, re.M)


def test_tls_issue_makes_a_client_certificate(tls_server, tmp_path):
    out = str(tmp_path / "phones")
    r = run_cli("--state", tls_server.state, "tls", "issue", "phone-7", "--out", out)
    assert r.returncode == 0, r.stderr
    crt, key = os.path.join(out, "phone-7.crt"), os.path.join(out, "phone-7.key")
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    v = openssl_verify("-CAfile", state_file(tls_server, "ca.crt"), "-purpose", "sslclient", crt)
    assert v.returncode == 0, v.stdout + v.stderr
    text = cert_text(crt)
    assert "Subject: CN = phone-7" in text
    assert f"URI:sip:phone-7@{DOMAIN}" in text and "TLS Web Client Authentication" in text
    # no overwrite, no odd names
    r = run_cli("--state", tls_server.state, "tls", "issue", "phone-7", "--out", out)
    assert r.returncode == 1 and "refusing to overwrite" in r.stderr
    for bad in ("../escape", "a,DNS:evil", ".hidden", ""):
        r = run_cli("--state", tls_server.state, "tls", "issue", bad, "--out", out)
        assert r.returncode != 0
    # default place: STATE/issued
    r = run_cli("--state", tls_server.state, "tls", "issue", "gw1")
    assert r.returncode == 0, r.stderr
    assert os.path.exists(os.path.join(tls_server.state, "issued", "gw1.crt"))
    show = run_cli("--state", tls_server.state, "tls", "show")
    assert show.returncode == 0
    assert f"subject   /CN={DOMAIN}" in show.stdout and "mode 0600" in show.stdout


# ---- SIP over TLS ----------------------------------------------------------------

def test_register_over_tls(tls_server):
    ph = Phone(tls_server, "1001", USERS["1001"], "tls")
    assert ph.sock.version() in ("TLSv1.3", "TLSv1.2")
    ph.register()
    ev = events(tls_server, "register.ok")
    assert ev and ev[-1]["user"] == "1001" and ev[-1]["transport"] == "tls"
    # bindings are written behind, within a tick or two of the 200
    deadline = time.monotonic() + 3
    while True:
        r = run_cli("--state", tls_server.state, "reg", "list", "1001")
        if "transport tls" in r.stdout or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert "transport tls" in r.stdout, r.stdout
    ph.close()


def test_call_between_two_tls_phones(tls_server):
    a = Phone(tls_server, "1001", USERS["1001"], "tls")
    a.register()
    b = Phone(tls_server, "1002", USERS["1002"], "tls")
    b.register()
    call_id, _, cseq = a.invite("1002")
    a.expect_status(100, "INVITE")
    inv, totag = b.answer()
    # the INVITE reached B on B's own TLS connection, via and route say TLS
    assert hval(inv, "Via")[0].startswith("SIP/2.0/TLS ")
    rr = hval(inv, "Record-Route")
    assert rr and all(";transport=tls" in v for v in rr), rr
    a.expect_status(180, "INVITE")
    _, ok, _ = a.expect_status(200, "INVITE")
    a.in_dialog("ACK", ok, call_id, cseq, totag, a.tag)
    b.expect_request("ACK")
    a.in_dialog("BYE", ok, call_id, cseq + 1, totag, a.tag)
    _, bye, _ = b.expect_request("BYE")
    b.respond(bye, 200, "OK", totag)
    a.expect_status(200, "BYE")
    a.close()
    b.close()


def test_tls_phone_calls_udp_phone(tls_server):
    a = Phone(tls_server, "1001", USERS["1001"], "tls")
    a.register()
    b = Phone(tls_server, "1002", USERS["1002"], "udp")
    b.register()
    a.invite("1002")
    inv, totag = b.answer()
    assert hval(inv, "Via")[0].startswith("SIP/2.0/UDP ")
    rr = hval(inv, "Record-Route")
    # two entries: the UDP side toward B, the TLS side toward A
    assert len(rr) == 2 and ";transport=tls" in rr[1] and "transport" not in rr[0], rr
    a.expect_status(200, "INVITE")
    a.close()
    b.close()


# ---- what is refused, what is accepted -------------------------------------------

@pytest.mark.parametrize("version", ["-tls1", "-tls1_1"])
def test_old_protocols_refused(tls_server, version):
    out = s_client(tls_server, version, "-cipher", "DEFAULT@SECLEVEL=0")
    assert "alert protocol version" in out, out
    assert "Cipher is (NONE)" in out


@pytest.mark.parametrize("cipher", ["AES128-GCM-SHA256",          # RSA key exchange
                                    "AES256-SHA256",               # RSA kx, CBC
                                    "ECDHE-ECDSA-AES128-SHA",      # CBC, SHA-1
                                    "ECDHE-ECDSA-AES256-SHA384"])  # CBC
def test_weak_suites_refused(tls_server, cipher):
    out = s_client(tls_server, "-tls1_2", "-cipher", cipher)
    assert "alert handshake failure" in out, out
    assert "Cipher is (NONE)" in out


@pytest.mark.parametrize("cipher", ["ECDHE-ECDSA-AES128-GCM-SHA256",
                                    "ECDHE-ECDSA-AES256-GCM-SHA384",
                                    "ECDHE-ECDSA-CHACHA20-POLY1305"])
def test_tls12_aead_suites_accepted(tls_server, cipher):
    ctx = tls_context(tls_server)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(cipher)
    with tls_connect(tls_server, ctx) as s:
        assert s.version() == "TLSv1.2" and s.cipher()[0] == cipher
        assert s.compression() is None
        assert status_of(options(s))[0] == 200


@pytest.mark.parametrize("suite", ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                                   "TLS_CHACHA20_POLY1305_SHA256"])
def test_tls13_suites_accepted(tls_server, suite):
    out = s_client(tls_server, "-tls1_3", "-ciphersuites", suite, "-verify_return_error",
                   stdin=b"")
    assert f"Cipher is {suite}" in out and "TLSv1.3" in out, out
    assert "Verification: OK" in out


def test_no_compression_no_renegotiation(tls_server):
    out = s_client(tls_server, "-tls1_2", stdin=b"R\n", timeout=15)
    assert "Compression: NONE" in out, out
    assert "RENEGOTIATING" in out
    # the server answers the renegotiation attempt with a no_renegotiation alert
    assert "no renegotiation" in out, out
    with tls_connect(tls_server) as s:
        assert s.compression() is None


def test_session_resumption(tls_server):
    ctx = tls_context(tls_server)
    with tls_connect(tls_server, ctx) as s:
        assert status_of(options(s))[0] == 200  # the ticket arrives after the handshake
        sess = s.session
    assert sess is not None and sess.has_ticket
    with tls_connect(tls_server, ctx, session=sess) as s:
        assert s.session_reused
        assert status_of(options(s))[0] == 200


# ---- reload ----------------------------------------------------------------------

def make_self_signed(dirpath, cn):
    crt, key = os.path.join(dirpath, f"{cn}.crt"), os.path.join(dirpath, f"{cn}.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", f"/CN={cn}",
                    "-addext", f"subjectAltName=DNS:{cn}", "-keyout", key, "-out", crt],
                   check=True, capture_output=True)
    os.chmod(key, 0o600)
    return crt, key


def replace_file(src, dst, mode):
    tmp = dst + ".new"
    with open(src, "rb") as f, open(tmp, "wb") as g:
        g.write(f.read())
    os.chmod(tmp, mode)
    os.replace(tmp, dst)


def test_reload_swaps_certificate_and_keeps_connections(tls_server, tmp_path):
    old_der = der_of(state_file(tls_server, "server.crt"))
    kept = tls_connect(tls_server)
    assert kept.getpeercert(binary_form=True) == old_der
    assert status_of(options(kept))[0] == 200
    crt, key = make_self_signed(str(tmp_path), "renewed.example.test")
    replace_file(crt, state_file(tls_server, "server.crt"), 0o644)
    replace_file(key, state_file(tls_server, "server.key"), 0o600)
    tls_server.signal(signal.SIGHUP)
    tls_server.wait_log("TLS certificate reloaded")
    assert "CN=renewed.example.test" in tls_server.log_text()
    # the connection made before goes on
    assert status_of(options(kept))[0] == 200
    # a new one sees the new certificate
    with tls_connect(tls_server, verify=False) as s:
        assert s.getpeercert(binary_form=True) == der_of(crt)
        assert status_of(options(s))[0] == 200
    assert status_of(options(kept))[0] == 200
    kept.close()


def test_bad_certificate_on_reload_keeps_the_running_one(tls_server, tmp_path):
    good_der = der_of(state_file(tls_server, "server.crt"))
    kept = tls_connect(tls_server)
    with open(state_file(tls_server, "server.crt"), "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n")
    tls_server.signal(signal.SIGHUP)
    tls_server.wait_log("TLS certificate refused, keeping the running one")
    assert "server.crt" in tls_server.log_text().split("TLS certificate refused")[1]
    # a certificate whose key is not the configured one: refused too
    crt, _ = make_self_signed(str(tmp_path), "mismatch.example.test")
    replace_file(crt, state_file(tls_server, "server.crt"), 0o644)
    tls_server.signal(signal.SIGHUP)
    tls_server.wait_log("does not match the certificate")
    assert tls_server.alive()
    with tls_connect(tls_server) as s:  # verifies against ca.crt for the domain
        assert s.getpeercert(binary_form=True) == good_der
        assert status_of(options(s))[0] == 200
    assert status_of(options(kept))[0] == 200
    kept.close()


# ---- deadlines, client certificates, keys --------------------------------------

def test_handshake_deadline_cuts_silent_client(make_server):
    s = make_server("[tcp]\nheader_timeout = 1", tls=True)
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", s.tls_port), timeout=5) as c:
        c.settimeout(4)
        try:
            data = c.recv(100)
        except ConnectionResetError:
            data = b""
    took = time.monotonic() - t0
    assert data == b"" and 0.8 < took < 3.0, took
    # a client that does its handshake is served meanwhile
    with tls_connect(s) as t:
        assert status_of(options(t))[0] == 200
    s.stop()
    assert re.search(r"TLS: \d+ handshakes .*, (\d+) failed, 1 cut off by the deadline",
                     s.log_text()), s.log_text()[-600:]


def test_verify_client_require(make_server, tmp_path):
    s = make_server("[tls]\nverify_client = require", tls=True)
    import_users(s, USERS, tmp_path)
    # without a client certificate: no service
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError, OSError)):
        with tls_connect(s) as t:
            t.sendall(b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n")
            if not t.recv(100):
                raise ConnectionResetError("closed")
    # with one from the local CA: REGISTER works
    out = str(tmp_path / "certs")
    # issuing touches only files: the running server trusts the local CA already
    assert run_cli("--state", s.state, "tls", "issue", "1001", "--out", out).returncode == 0
    ph = Phone(s, "1001", USERS["1001"], "tls",
               cert=(os.path.join(out, "1001.crt"), os.path.join(out, "1001.key")))
    ph.register()
    ph.close()


def test_encrypted_keys(tmp_path):
    state = str(tmp_path / "st")
    pw = tmp_path / "pass"
    pw.write_text("a long enough passphrase\n")
    os.chmod(pw, 0o600)
    port, tport = free_port(), free_port()
    r = run_cli("init", "--state", state, "--domain", DOMAIN, "--listen",
                f"udp:127.0.0.1:{port},tls:127.0.0.1:{tport}",
                "--passphrase-file", str(pw), "--protect-server-key")
    assert r.returncode == 0, r.stderr
    for key in ("ca.key", "server.key"):
        assert "ENCRYPTED PRIVATE KEY" in open(os.path.join(state, key)).read()
    assert f"key_passphrase_file = {pw}" in open(os.path.join(state, "bastion.conf")).read()
    # issuing needs the CA passphrase: without a terminal (a new session has
    # none), only with the file
    r = subprocess.run([BIN, "--state", state, "tls", "issue", "p1"], capture_output=True,
                       text=True, timeout=30, start_new_session=True, stdin=subprocess.DEVNULL)
    assert r.returncode == 1 and "passphrase-file" in r.stderr, r.stderr
    r = run_cli("--state", state, "tls", "issue", "p1", "--passphrase-file", str(pw))
    assert r.returncode == 0, r.stderr
    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase at all\n")
    r = run_cli("--state", state, "tls", "issue", "p2", "--passphrase-file", str(wrong))
    assert r.returncode == 1 and "wrong passphrase" in r.stderr
    # the server starts with the passphrase file, and serves TLS
    log = open(os.path.join(state, "serve.log"), "wb")
    proc = subprocess.Popen([BIN, "--state", state, "serve"], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 90
        while "ready:" not in open(os.path.join(state, "serve.log")).read():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        ctx = ssl.create_default_context(cafile=os.path.join(state, "ca.crt"))
        with ctx.wrap_socket(socket.create_connection(("127.0.0.1", tport), timeout=5),
                             server_hostname=DOMAIN) as t:
            assert status_of(options(t))[0] == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        log.close()
    # a passphrase file others may read is refused
    os.chmod(pw, 0o644)
    r = run_cli("--state", state, "serve", timeout=20)
    assert r.returncode == 1 and "readable by others" in r.stderr, r.stderr


def test_server_key_readable_by_others_refused(make_server):
    s = make_server(tls=True, start=False)
    os.chmod(state_file(s, "server.key"), 0o644)
    r = run_cli("--state", s.state, "serve", timeout=20)
    assert r.returncode == 1 and "readable by others" in r.stderr, r.stderr


# ---- the library guard -------------------------------------------------------------

def test_startup_names_the_library(tls_server):
    assert re.search(r"TLS library: OpenSSL 3\.\d+\.\d+", tls_server.log_text())
    assert "TLS certificate: /CN=example.test" in tls_server.log_text()


def test_refuses_to_start_on_heartbleed_openssl(make_server):
    s = make_server(start=False)
    r = run_cli("--state", s.state, "serve", env={"BASTION_TEST_TLS_VERSION": "1000106f"},
                timeout=20)
    assert r.returncode == 1
    assert "CVE-2014-0160" in r.stderr and "Heartbleed" in r.stderr, r.stderr
    r = run_cli("--state", s.state, "serve", env={"BASTION_TEST_TLS_VERSION": "30000060"},
                timeout=20)
    assert r.returncode == 1 and "CVE-2022-3602" in r.stderr


# ---- the transport policy with real TLS (the plain side is in test_policy.py) ----

def invite_sips(ph, callee):
    """Phone.invite with a sips: Request-URI and To (RFC 5630): INVITE, 407,
    ACK, INVITE with credentials for that URI."""
    call_id = uuid.uuid4().hex + "@test"
    ruri = f"sips:{callee}@{DOMAIN}"
    first = "z9hG4bK" + uuid.uuid4().hex
    ph.cseq += 1
    ph.send(ph.request("INVITE", ruri, ruri, call_id, ph.cseq, [], b"", branch=first))
    _, hdrs, _ = ph.expect_status(407, "INVITE")
    tag = re.search(r";tag=([^;>\s]+)", hval(hdrs, "To")[0]).group(1)
    ph.send(ph.request("ACK", ruri, ruri, call_id, ph.cseq, [], b"", branch=first, to_tag=tag))
    chal = {}
    for v in hval(hdrs, "Proxy-Authenticate"):
        params = dict((k, a or b) for k, a, b in
                      re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]+))', v[7:]))
        chal[params.get("algorithm", "MD5")] = params
    from conftest import digest_header
    auth = digest_header(ph.user, ph.password, chal["SHA-256"], "INVITE", ruri,
                         "SHA-256").replace("Authorization:", "Proxy-Authorization:")
    ph.cseq += 1
    ph.send(ph.request("INVITE", ruri, ruri, call_id, ph.cseq, [auth], b""))
    return call_id


def test_tls_required_serves_tls_phones(make_server, tmp_path):
    s = make_server("[policy]\nsignaling = tls-required", tls=True)
    import_users(s, USERS, tmp_path)
    plain = Phone(s, "1001", USERS["1001"], "udp")
    plain.send(plain.request("REGISTER", f"sip:{DOMAIN}", f"sip:1001@{DOMAIN}", "r1@test", 1,
                             ["Expires: 60"]))
    plain.expect_status(403, "REGISTER")
    a = Phone(s, "1001", USERS["1001"], "tls")
    a.register()
    b = Phone(s, "1002", USERS["1002"], "tls")
    b.register()
    a.invite("1002")
    b.answer()
    a.expect_status(200, "INVITE")
    assert len(events(s, "policy.tls_required")) == 1
    for p in (plain, a, b):
        p.close()


def test_sips_call_stays_on_tls(tls_server):
    a = Phone(tls_server, "1001", USERS["1001"], "tls")
    a.register()
    b = Phone(tls_server, "1002", USERS["1002"], "tls")
    b.register()
    invite_sips(a, "1002")
    _, inv, _ = b.expect_request("INVITE")
    assert hval(inv, "Via")[0].startswith("SIP/2.0/TLS ")
    # a callee reachable only over UDP: the sips: call fails, never goes plain
    c = Phone(tls_server, "1002", USERS["1002"], "udp")
    b.close()
    time.sleep(0.3)  # the server notices B's connection is gone
    c.register()
    invite_sips(a, "1002")
    a.expect_status(480, "INVITE")
    c.nothing(0.5)
    a.close()
    c.close()
