"""Per-user mutual TLS against the real binary: `bastion user cert NAME
require|off`, and a user so bound registering and calling only over TLS with
a client certificate naming it (made by `bastion tls issue`). Refused with
403 "Client Certificate Required" and the event tls.client_cert_refused:
the same user over UDP or TCP, over TLS without a certificate, over TLS with
a certificate issued for another user. Users without the flag are not
affected. The server asks for client certificates with [tls] verify_client
= optional (docs/tls.md)."""
import os
import time

import pytest

from conftest import DOMAIN, Phone, events, import_users, run_cli

USERS = {"1001": "correct-horse-1001", "1002": "battery-staple-1002",
         "1003": "tangerine-lamp-1003"}
EVENT = "tls.client_cert_refused"


def cli(server, *args):
    return run_cli("--state", server.state, *args)


def issue(server, name, out):
    r = cli(server, "tls", "issue", name, "--out", out)
    assert r.returncode == 0, r.stderr
    return os.path.join(out, f"{name}.crt"), os.path.join(out, f"{name}.key")


@pytest.fixture
def mtls(make_server, tmp_path):
    """A server asking for client certificates, users 1001..1003, 1001 bound
    to its certificate; returns (server, {name: (crt, key)})."""
    s = make_server("[tls]\nverify_client = optional", tls=True)
    import_users(s, USERS, tmp_path)
    out = str(tmp_path / "certs")
    certs = {n: issue(s, n, out) for n in ("1001", "1002")}
    before = s.reloads()
    r = cli(s, "user", "cert", "1001", "require")
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""  # verify_client asks: no warning
    s.wait_reload(before)
    return s, certs


def refused(ph, why):
    """REGISTER from ph is refused for a missing or wrong certificate, and
    the event says why."""
    start, _, _ = ph.register(code=403)
    assert start == "SIP/2.0 403 Client Certificate Required", start
    ev = events(ph.server, EVENT)
    assert ev, "no event"
    assert ev[-1]["user"] == "1001" and ev[-1]["status"] == 403
    assert why in ev[-1]["reason"], ev[-1]
    return ev[-1]


# ---- the command line ------------------------------------------------------------

def test_user_cert_cli(make_server, tmp_path):
    s = make_server(start=False)
    import_users(s, USERS, tmp_path)
    r = cli(s, "user", "cert", "1001", "require")
    assert r.returncode == 0, r.stderr
    assert "only over TLS" in r.stdout and f"sip:1001@{DOMAIN}" in r.stdout
    # the default configuration asks for no client certificates: say so
    assert "verify_client = none" in r.stderr
    show = cli(s, "user", "show", "1001").stdout
    assert "cert      required" in show, show
    assert "cert      not required" in cli(s, "user", "show", "1002").stdout
    lines = {ln.split("@")[0]: ln for ln in cli(s, "user", "list").stdout.splitlines()}
    assert lines["1001"].endswith("client-cert required"), lines
    assert lines["1002"].endswith("client-cert off"), lines
    # errors: unknown user, other domain, bad mode, missing arguments
    r = cli(s, "user", "cert", "9999", "require")
    assert r.returncode == 1 and "does not exist" in r.stderr
    r = cli(s, "user", "cert", "1001", "require", "--domain", "other.test")
    assert r.returncode == 1 and "does not exist" in r.stderr
    r = cli(s, "user", "cert", "1001", "maybe")
    assert r.returncode == 2 and "require or off" in r.stderr
    assert cli(s, "user", "cert", "1001").returncode == 2
    assert cli(s, "user", "cert").returncode == 2
    assert "user cert NAME require|off" in cli(s, "user", "--help").stdout
    r = cli(s, "user", "cert", "1001", "off", "--domain", DOMAIN)
    assert r.returncode == 0 and "no longer" in r.stdout
    assert cli(s, "user", "list").stdout.count("client-cert off") == 3


# ---- the server --------------------------------------------------------------------

def test_bound_user_registers_only_with_its_certificate(mtls):
    s, certs = mtls
    # over TLS with its own certificate: served
    ph = Phone(s, "1001", USERS["1001"], "tls", cert=certs["1001"])
    ph.register()
    assert events(s, "register.ok")[-1]["user"] == "1001"
    ph.close()
    # the right password over any other transport: refused
    for tp in ("udp", "tcp"):
        ph = Phone(s, "1001", USERS["1001"], tp)
        ev = refused(ph, "did not come over TLS")
        assert ev["transport"] == tp
        ph.close()
    # over TLS without a certificate
    ph = Phone(s, "1001", USERS["1001"], "tls")
    assert refused(ph, "presented none")["transport"] == "tls"
    ph.close()
    # over TLS with a certificate from our CA issued for another user
    ph = Phone(s, "1001", USERS["1001"], "tls", cert=certs["1002"])
    refused(ph, "another identity")
    ph.close()
    assert len(events(s, EVENT)) == 4
    # the only binding is the one made with the certificate
    r = cli(s, "reg", "list", "1001")
    assert r.stdout.count("transport tls") == 1 and "transport udp" not in r.stdout, r.stdout
    # users without the flag are not affected, with or without certificates
    ph = Phone(s, "1002", USERS["1002"], "udp")
    ph.register()
    ph.close()
    ph = Phone(s, "1003", USERS["1003"], "tls", cert=certs["1002"])
    ph.register()
    ph.close()
    assert len(events(s, EVENT)) == 4


def test_bound_user_calls_only_with_its_certificate(mtls):
    s, certs = mtls
    b = Phone(s, "1002", USERS["1002"], "udp")
    b.register()
    # an INVITE over UDP with the right password: refused, never forwarded
    a = Phone(s, "1001", USERS["1001"], "udp")
    a.invite("1002")
    start, _, _ = a.expect_status(403, "INVITE")
    assert start == "SIP/2.0 403 Client Certificate Required"
    ev = events(s, EVENT)[-1]
    assert ev["user"] == "1001" and "did not come over TLS" in ev["reason"]
    assert ev["transport"] == "udp"
    b.nothing(0.5)
    a.close()
    # over TLS with its certificate the call goes through
    t = Phone(s, "1001", USERS["1001"], "tls", cert=certs["1001"])
    t.register()
    t.invite("1002")
    b.answer()
    t.expect_status(200, "INVITE")
    t.close()
    b.close()


def test_cert_off_releases_the_user(mtls):
    s, _ = mtls
    ph = Phone(s, "1001", USERS["1001"], "udp")
    refused(ph, "did not come over TLS")
    before = s.reloads()
    r = cli(s, "user", "cert", "1001", "off")
    assert r.returncode == 0, r.stderr
    s.wait_reload(before)
    ph.register()
    ph.close()
