"""The extra identities of a user on the command line: bastion user identity
add/del/list, validation of the URI (sip/sips/tel only, canonical form,
nothing but scheme, user and host), unknown users, duplicates, the --domain
option, user show, and the cascade when the user is deleted. Every command
runs the real binary on a state directory under tmp_path and the database is
inspected directly."""
import os
import sqlite3

import pytest

from conftest import run_cli

DOMAIN = "example.org"


@pytest.fixture
def state(tmp_path):
    st = str(tmp_path / "st")
    r = run_cli("init", "--state", st, "--domain", DOMAIN)
    assert r.returncode == 0, r.stderr
    for name, dom in (("1001", DOMAIN), ("1002", DOMAIN), ("alice", "other.example")):
        r = run_cli("--state", st, "user", "add", name, "--domain", dom, "--generate")
        assert r.returncode == 0, r.stderr
    return st


def cli(state, *args):
    return run_cli("--state", state, *args)


def db_identities(state):
    con = sqlite3.connect(os.path.join(state, "bastion.db"))
    try:
        return con.execute("SELECT u.name, u.domain, i.uri FROM identities i "
                           "JOIN users u ON u.id = i.user_id ORDER BY u.name, i.uri").fetchall()
    finally:
        con.close()


def listing(state, name, *extra):
    r = cli(state, "user", "identity", "list", name, *extra)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def test_add_list_del(state):
    r = cli(state, "user", "identity", "add", "1001", "sip:sales@example.org")
    assert r.returncode == 0, r.stderr
    assert "1001@example.org may now use identity sip:sales@example.org" in r.stdout
    r = cli(state, "user", "identity", "add", "1001", "tel:+15551230000")
    assert r.returncode == 0, r.stderr
    assert listing(state, "1001") == ["sip:sales@example.org", "tel:+15551230000"]
    assert listing(state, "1002") == ["No extra identities for 1002@example.org."]
    assert db_identities(state) == [("1001", DOMAIN, "sip:sales@example.org"),
                                    ("1001", DOMAIN, "tel:+15551230000")]
    r = cli(state, "user", "identity", "del", "1001", "sip:sales@example.org")
    assert r.returncode == 0, r.stderr
    assert "may no longer use identity sip:sales@example.org" in r.stdout
    assert listing(state, "1001") == ["tel:+15551230000"]
    assert db_identities(state) == [("1001", DOMAIN, "tel:+15551230000")]


def test_canonical_form(state):
    for given, stored in (("SIP:Sales@Example.ORG", "sip:Sales@example.org"),
                          ("sips:secure@EXAMPLE.org", "sips:secure@example.org"),
                          ("sip:x@[2001:DB8::1]", "sip:x@[2001:db8::1]"),
                          ("tel:+1-555-(123)-0001", "tel:+15551230001")):
        r = cli(state, "user", "identity", "add", "1001", given)
        assert r.returncode == 0, (given, r.stderr)
        assert f"identity {stored}." in r.stdout
    assert sorted(u for (_, _, u) in db_identities(state)) == sorted(
        ["sip:Sales@example.org", "sips:secure@example.org", "sip:x@[2001:db8::1]",
         "tel:+15551230001"])
    # deleting works with any spelling of the same identity
    r = cli(state, "user", "identity", "del", "1001", "tel:+15551230001")
    assert r.returncode == 0, r.stderr
    r = cli(state, "user", "identity", "del", "1001", "sip:Sales@EXAMPLE.org")
    assert r.returncode == 0, r.stderr
    assert len(db_identities(state)) == 2


def test_duplicate(state):
    assert cli(state, "user", "identity", "add", "1001", "tel:+15551230000").returncode == 0
    r = cli(state, "user", "identity", "add", "1001", "tel:+1-555-123-0000")
    assert r.returncode == 1
    assert "user 1001@example.org already has identity tel:+15551230000" in r.stderr
    # another user may hold the same identity (a shared line)
    r = cli(state, "user", "identity", "add", "1002", "tel:+15551230000")
    assert r.returncode == 0, r.stderr
    assert len(db_identities(state)) == 2


@pytest.mark.parametrize("uri, message", [
    ("mailto:sales@example.org", "only sip:, sips: and tel: URIs"),
    ("http://example.org/", "only sip:, sips: and tel: URIs"),
    ("sales@example.org", "not a valid URI"),
    ("sip:", "not a valid URI"),
    ("sip:sales@exa mple.org", "not a valid URI"),
    ("sip:sales@example.org\r\nX: y", "not a valid URI"),
    ("sip:a:secret@example.org", "not a valid URI"),
    ("tel:+1555abcxyz", "not a valid URI"),
    ("tel:-", "needs digits"),
    ("sip:example.org", "needs a user part"),
    ("sip:sales@example.org:5060", "without port, parameters or headers"),
    ("sip:sales@example.org;transport=tcp", "without port, parameters or headers"),
    ("sip:sales@example.org?Subject=x", "without port, parameters or headers"),
    ("tel:1234;phone-context=example.org", "without port, parameters or headers"),
    ("sip:" + "a" * 1100 + "@example.org", "not a valid URI"),
])
def test_bad_uris(state, uri, message):
    r = cli(state, "user", "identity", "add", "1001", uri)
    assert r.returncode == 1, r.stdout
    assert message in r.stderr, r.stderr
    assert db_identities(state) == []


def test_unknown_user_and_identity(state):
    r = cli(state, "user", "identity", "add", "1009", "sip:sales@example.org")
    assert r.returncode == 1 and "user 1009@example.org does not exist" in r.stderr
    r = cli(state, "user", "identity", "list", "1009")
    assert r.returncode == 1 and "user 1009@example.org does not exist" in r.stderr
    r = cli(state, "user", "identity", "del", "1009", "sip:sales@example.org")
    assert r.returncode == 1 and "user 1009@example.org does not exist" in r.stderr
    r = cli(state, "user", "identity", "del", "1001", "sip:sales@example.org")
    assert r.returncode == 1 and "user 1001@example.org has no identity sip:sales@example.org" \
        in r.stderr
    r = cli(state, "user", "identity", "add", "bad name", "sip:sales@example.org")
    assert r.returncode == 1
    assert db_identities(state) == []


def test_other_domain(state):
    r = cli(state, "user", "identity", "add", "alice", "sip:desk@other.example",
            "--domain", "other.example")
    assert r.returncode == 0, r.stderr
    assert "alice@other.example may now use" in r.stdout
    assert listing(state, "alice", "--domain", "other.example") == ["sip:desk@other.example"]
    # without --domain, alice is looked up in the server's domain
    r = cli(state, "user", "identity", "list", "alice")
    assert r.returncode == 1 and "alice@example.org does not exist" in r.stderr


def test_usage_errors(state):
    for args in (("user", "identity"), ("user", "identity", "frob"),
                 ("user", "identity", "add"), ("user", "identity", "add", "1001"),
                 ("user", "identity", "del", "1001"), ("user", "identity", "list"),
                 ("user", "identity", "list", "1001", "sip:x@y"),
                 ("user", "identity", "add", "1001", "sip:x@y", "sip:z@y"),
                 ("user", "identity", "add", "1001", "sip:x@y", "--bogus")):
        r = cli(state, *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "Run 'bastion user --help' for usage." in r.stderr
    assert db_identities(state) == []
    r = run_cli("user", "--help")
    assert r.returncode == 0
    assert "user identity add|del NAME URI [--domain D]" in r.stdout
    assert "user identity list NAME [--domain D]" in r.stdout


def test_show_and_cascade(state):
    assert cli(state, "user", "identity", "add", "1001", "sip:sales@example.org").returncode == 0
    assert cli(state, "user", "identity", "add", "1002", "tel:+15550000002").returncode == 0
    r = cli(state, "user", "show", "1001")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    i = lines.index("identities (besides its own address):")
    assert lines[i + 1] == "  sip:sales@example.org"
    r = cli(state, "user", "del", "1001")
    assert r.returncode == 0, r.stderr
    assert db_identities(state) == [("1002", DOMAIN, "tel:+15550000002")]
    # a new 1001 starts without the old allowances
    assert cli(state, "user", "add", "1001", "--generate").returncode == 0
    assert listing(state, "1001") == ["No extra identities for 1001@example.org."]
    r = cli(state, "user", "show", "1001")
    assert "identities (besides its own address):\n  none" in r.stdout
