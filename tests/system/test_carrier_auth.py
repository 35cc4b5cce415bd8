"""A carrier that challenges us (issue 12, docs/trunks.md "Credentials"):
SIPp plays the carrier's trunk on its own loopback address and answers the
first INVITE with 407; Bastion answers with the account's credentials from
the 0600 secrets file ([trunks] secrets), with the next CSeq, and SIPp checks
the digest (verifyauth) and the CSeqs of the ACK and BYE that follow. The
password never shows in the logs, the events or `bastion peer show`; a
secrets file others may read is refused, and the carrier's 407 then reaches
the phone.
"""
import os
import re

from conftest import DOMAIN, Phone, hval, run_cli
from test_trunks import (SCEN, USERS, call, finish_call, kernel_port, sipp_done,
                         trunk_conf, users_of)  # noqa: F401 (fixture)
import hashlib
import pytest
import socket
import subprocess
import time

ACCOUNT, PASSWORD = "acct-5551", "Carrier-Pass-77"


def sipp_carrier(tmp_path, ip, port, invite_cseq, challenge=None):
    """invite_cseq: the CSeq of the phone's INVITE, which reaches the
    carrier one higher after the challenge (and its BYE, one higher still).
    challenge: the parameters after the nonce in the 407 (default qop=auth, MD5)."""
    text = open(os.path.join(SCEN, "carrier_auth.xml")).read()
    if challenge is not None:
        assert ', qop="auth", algorithm=MD5' in text
        text = text.replace(', qop="auth", algorithm=MD5', challenge)
    text = text.replace("@INVITE@", str(invite_cseq + 1)).replace("@BYE@", str(invite_cseq + 2))
    path = tmp_path / "carrier_auth.xml"
    path.write_text(text)
    proc = subprocess.Popen(["sipp", "-sf", str(path), "-i", ip, "-p", str(port), "-m", "1",
                             "-t", "u1", "-nostdin", "-timeout", "60s", "-timeout_error",
                             "-trace_err", "-error_file", str(tmp_path / f"err.{ip}.log"),
                             "-trace_logs", "-log_file", str(tmp_path / "carrier.log")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind((ip, port))
            except OSError:
                return proc
        assert proc.poll() is None, proc.communicate()[0][-1000:]
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("sipp did not bind its port")


def write_secrets(server, mode=0o600):
    path = os.path.join(server.state, "peers.secret")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(f"[gw1]\nusername = {ACCOUNT}\npassword = {PASSWORD}\nrealm = carrier.test\n")
    os.chmod(path, mode)
    return path


def test_carrier_challenge_answered_from_the_secrets_file(make_server, users_of, tmp_path):
    port = kernel_port("127.0.0.2")
    s = make_server(trunk_conf([("127.0.0.2", port)]), start=False)
    write_secrets(s)
    s.start()
    users_of(s)
    assert "credentials of 1 peer(s) loaded" in s.log_text()
    # the phone's INVITE has CSeq 2 (1 drew our own 407: call() in test_trunks)
    carrier = sipp_carrier(tmp_path, "127.0.0.2", port, 2)
    a = Phone(s, "1001", USERS["1001"])
    cid = call(a, f"sip:+12125550100@{DOMAIN}")
    _, hdrs, _ = a.expect_status(200, "INVITE", timeout=15)
    assert hval(hdrs, "CSeq") == [f"{a.cseq} INVITE"]      # the phone's own number
    finish_call(a, hdrs, cid)
    sipp_done(carrier, tmp_path, "127.0.0.2")
    # the digest the carrier got is right for the account (RFC 7616, qop=auth)
    log = (tmp_path / "carrier.log").read_text()
    auth = re.search(r"AUTH (Digest .*)", log).group(1)
    ruri = re.search(r"RURI (\S+)", log).group(1)
    p = dict((k, a or b) for k, a, b in re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]+))', auth[7:]))
    assert p["username"] == ACCOUNT and p["realm"] == "carrier.test" and p["uri"] == ruri
    assert p["qop"] == "auth" and p["nc"] == "00000001" and p["algorithm"] == "MD5"
    md5 = lambda s: hashlib.md5(s.encode()).hexdigest()  # noqa: E731
    ha1 = md5(f"{ACCOUNT}:carrier.test:{PASSWORD}")
    ha2 = md5(f"INVITE:{ruri}")
    assert p["response"] == md5(f"{ha1}:{p['nonce']}:00000001:{p['cnonce']}:auth:{ha2}"), auth
    # the password is nowhere but in the secrets file
    for name in ("serve.log", "security.log", "cdr.log"):
        p = os.path.join(s.state, name)
        if os.path.exists(p):
            assert PASSWORD not in open(p, errors="replace").read(), name
    r = run_cli("--state", s.state, "peer", "show", "gw1")
    assert r.returncode == 0 and PASSWORD not in r.stdout and ACCOUNT not in r.stdout


@pytest.mark.parametrize("algo,h", [("MD5", hashlib.md5), ("SHA-256", hashlib.sha256)])
def test_carrier_challenge_without_qop_answered(make_server, users_of, tmp_path, algo, h):
    """A carrier still on RFC 2069 (no qop in its challenge; RFC 2617
    3.2.2.1): the answer is H(HA1:nonce:HA2), with no cnonce, nc or qop, and
    the call goes through."""
    port = kernel_port("127.0.0.2")
    s = make_server(trunk_conf([("127.0.0.2", port)]), start=False)
    write_secrets(s)
    s.start()
    users_of(s)
    carrier = sipp_carrier(tmp_path, "127.0.0.2", port, 2,
                           challenge=f', opaque="op-[call_number]", algorithm={algo}')
    a = Phone(s, "1001", USERS["1001"])
    cid = call(a, f"sip:+12125550100@{DOMAIN}")
    _, hdrs, _ = a.expect_status(200, "INVITE", timeout=15)
    finish_call(a, hdrs, cid)
    sipp_done(carrier, tmp_path, "127.0.0.2")
    log = (tmp_path / "carrier.log").read_text()
    auth = re.search(r"AUTH (Digest .*)", log).group(1)
    ruri = re.search(r"RURI (\S+)", log).group(1)
    p = dict((k, a or b) for k, a, b in re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]+))', auth[7:]))
    assert "qop" not in p and "cnonce" not in p and "nc" not in p, auth
    assert p["username"] == ACCOUNT and p["realm"] == "carrier.test" and p["uri"] == ruri
    assert p["algorithm"] == algo and p["opaque"] == "op-1", auth
    hx = lambda x: h(x.encode()).hexdigest()  # noqa: E731
    ha1 = hx(f"{ACCOUNT}:carrier.test:{PASSWORD}")
    ha2 = hx(f"INVITE:{ruri}")
    assert p["response"] == hx(f"{ha1}:{p['nonce']}:{ha2}"), auth
    assert PASSWORD not in s.log_text()


def test_secrets_file_others_may_read_is_refused(make_server, users_of, tmp_path):
    from test_trunks import Gateway
    gw = Gateway("127.0.0.2")
    s = make_server(trunk_conf([gw]), start=False)
    path = write_secrets(s, 0o644)
    s.start()
    users_of(s)
    s.wait_log("refused: it must be a regular file", timeout=10)
    assert PASSWORD not in s.log_text()
    a = Phone(s, "1001", USERS["1001"])
    call(a, f"sip:+12125550100@{DOMAIN}")
    _, inv, _ = gw.expect_invite()
    lines = ["SIP/2.0 407 Proxy Authentication Required"] + \
        [f"Via: {v}" for v in hval(inv, "Via")] + \
        [f"From: {hval(inv, 'From')[0]}", f"To: {hval(inv, 'To')[0]};tag=c1",
         f"Call-ID: {hval(inv, 'Call-ID')[0]}", f"CSeq: {hval(inv, 'CSeq')[0]}",
         'Proxy-Authenticate: Digest realm="carrier.test", nonce="n1", qop="auth"',
         "Content-Length: 0"]
    gw.sock.sendto(("\r\n".join(lines) + "\r\n\r\n").encode(), ("127.0.0.1", s.port))
    start, hdrs, _ = a.expect_status(407, "INVITE")   # no credentials: passed on
    assert any("carrier.test" in v for v in hval(hdrs, "Proxy-Authenticate"))
    gw.no_invite(0.5)
    # made private, it is read within a second and used for the next call
    os.chmod(path, 0o600)
    os.utime(path)
    s.wait_log("credentials of 1 peer(s) loaded", timeout=10)
    b = Phone(s, "1001", USERS["1001"])
    call(b, f"sip:+12125550101@{DOMAIN}")
    _, inv, _ = gw.expect_invite()
    lines[1:] = [f"Via: {v}" for v in hval(inv, "Via")] + \
        [f"From: {hval(inv, 'From')[0]}", f"To: {hval(inv, 'To')[0]};tag=c2",
         f"Call-ID: {hval(inv, 'Call-ID')[0]}", f"CSeq: {hval(inv, 'CSeq')[0]}",
         'Proxy-Authenticate: Digest realm="carrier.test", nonce="n2", qop="auth"',
         "Content-Length: 0"]
    gw.sock.sendto(("\r\n".join(lines) + "\r\n\r\n").encode(), ("127.0.0.1", s.port))
    _, again, _ = gw.expect(lambda st, h: st.startswith("INVITE ") and
                            hval(h, "Call-ID") == hval(inv, "Call-ID") and
                            hval(h, "Proxy-Authorization"), timeout=5, what="INVITE with credentials")
    assert hval(again, "CSeq") == [f"{b.cseq + 1} INVITE"]   # the phone's number + 1
    assert f'username="{ACCOUNT}"' in hval(again, "Proxy-Authorization")[0]
    gw.respond(s, again, 486, "Busy Here")
    b.expect_status(486, "INVITE")
    gw.close()


def test_outbound_registration_to_a_carrier(make_server, users_of, tmp_path):
    """register = yes: REGISTER to the carrier, answered challenge, granted
    4 s, refreshed before it expires with the next nonce-count; event
    peer.registered once."""
    port = kernel_port("127.0.0.2")
    conf = trunk_conf([("127.0.0.2", port)]).replace(
        "[peer gw1]\n", "[peer gw1]\nregister = yes\nregister_expires = 600\n")
    s = make_server(conf, start=False)
    write_secrets(s)
    path = tmp_path / "registrar_auth.xml"
    path.write_text(open(os.path.join(SCEN, "registrar_auth.xml")).read())
    reg = subprocess.Popen(["sipp", "-sf", str(path), "-i", "127.0.0.2", "-p", str(port),
                            "-m", "1", "-t", "u1", "-nostdin", "-timeout", "60s",
                            "-timeout_error", "-trace_err", "-error_file",
                            str(tmp_path / "err.127.0.0.2.log"), "-trace_logs", "-log_file",
                            str(tmp_path / "registrar.log")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("127.0.0.2", port))
            except OSError:
                break
        time.sleep(0.05)
    s.start()
    sipp_done(reg, tmp_path, "127.0.0.2")
    log = (tmp_path / "registrar.log").read_text()
    auth = re.search(r"AUTH (Digest .*)", log).group(1)
    ruri = re.search(r"RURI (\S+)", log).group(1)
    p = dict((k, a or b) for k, a, b in re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]+))', auth[7:]))
    md5 = lambda x: hashlib.md5(x.encode()).hexdigest()  # noqa: E731
    ha1, ha2 = md5(f"{ACCOUNT}:carrier.test:{PASSWORD}"), md5(f"REGISTER:{ruri}")
    assert p["username"] == ACCOUNT and p["uri"] == ruri == f"sip:127.0.0.2:{port}"
    assert p["response"] == md5(f"{ha1}:{p['nonce']}:{p['nc']}:{p['cnonce']}:auth:{ha2}")
    from conftest import events
    ev = events(s, "peer.registered")
    assert len(ev) == 1 and ev[0]["user"] == "gw1" and "4 s" in ev[0]["reason"], ev
    assert not events(s, "peer.register_failed")
    assert PASSWORD not in s.log_text()


def test_outbound_registration_refused_raises_an_event(make_server, users_of):
    from conftest import events
    from test_trunks import Gateway
    gw = Gateway("127.0.0.2")
    conf = trunk_conf([gw]).replace("[peer gw1]\n", "[peer gw1]\nregister = yes\n")
    s = make_server(conf, start=False)
    write_secrets(s)
    s.start()
    _, hdrs, _ = gw.expect(lambda st, h: st.startswith("REGISTER "), timeout=10, what="REGISTER")
    gw.respond(s, hdrs, 403, "Forbidden")
    deadline = time.monotonic() + 10
    while not events(s, "peer.register_failed") and time.monotonic() < deadline:
        time.sleep(0.05)
    ev = events(s, "peer.register_failed")
    assert ev and ev[0]["user"] == "gw1" and "403" in ev[0]["reason"], ev
    gw.close()
