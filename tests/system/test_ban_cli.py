"""`bastion ban list | add ADDR [TIME] | del ADDR` on a real state directory,
without a running server: what the commands print, what they write to the
database (read back with Python's sqlite3), the address normalisation to the
guard's key (IPv6 grouped by [guard] ipv6_prefix, IPv4-mapped as IPv4), the
TIME forms and their bounds, and the refusals (bad address, bad time,
allow-listed address) that leave the database untouched. Rows the server
would write (other reasons, expired bans) are inserted with sqlite3."""
import calendar
import os
import re
import sqlite3
import time

import pytest

from conftest import run_cli

LINE = re.compile(r"^(\S+)  ends (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)  remaining (\S+)  "
                  r"count (\d+)  reason (.+)$")
ADDED = re.compile(r"^Banned (\S+) until (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) "
                   r"\((\S+); ban (\d+) of this source\)\.$")


@pytest.fixture
def state(tmp_path):
    st = tmp_path / "st"
    r = run_cli("init", "--state", str(st), "--domain", "example.test")
    assert r.returncode == 0, r.stderr
    return str(st)


def conf(state, text):
    with open(os.path.join(state, "bastion.conf"), "a") as f:
        f.write("\n" + text + "\n")


def ban(state, *args, env=None):
    return run_cli("--state", state, "ban", *args, env=env)


def ok(state, *args, env=None):
    r = ban(state, *args, env=env)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    assert r.stderr == ""
    return r.stdout


def rows(state):
    """Every row, ordered by addr: (addr, until, count, reason, created_at)."""
    db = sqlite3.connect(os.path.join(state, "bastion.db"))
    out = db.execute("SELECT addr, until, count, reason, created_at FROM bans"
                     " ORDER BY addr").fetchall()
    db.close()
    return out


def insert(state, addr, until, count=1, reason="rate", created_at=None):
    """A row as the server would write it."""
    db = sqlite3.connect(os.path.join(state, "bastion.db"))
    with db:
        db.execute("INSERT INTO bans (addr, until, count, reason, created_at)"
                   " VALUES (?, ?, ?, ?, ?)",
                   (addr, int(until), count, reason, int(created_at or time.time())))
    db.close()


def listing(state, env=None):
    out = ok(state, "list", env=env)
    if out == "No bans.\n":
        return []
    lines = out.splitlines()
    for line in lines:
        assert LINE.match(line), line
    return [LINE.match(line).groups() for line in lines]


def seconds(text):
    """'1d2h3m4s' -> seconds."""
    m = re.fullmatch(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(\d+)s", text)
    assert m, text
    d, h, mi, s = (int(x or 0) for x in m.groups())
    return ((d * 24 + h) * 60 + mi) * 60 + s


def utc(text):
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


def test_empty(state):
    assert ok(state, "list") == "No bans.\n"


def test_add_list_del(state):
    before = int(time.time())
    out = ok(state, "add", "192.0.2.1", "90")
    after = int(time.time())
    m = ADDED.match(out.strip())
    assert m, out
    assert m.group(1) == "192.0.2.1"
    assert m.group(3) == "1m30s"
    assert m.group(4) == "1"
    assert before + 90 <= utc(m.group(2)) <= after + 90

    [(addr, until, count, reason, created)] = rows(state)
    assert (addr, count, reason) == ("192.0.2.1", 1, "operator")
    assert before + 90 <= until <= after + 90
    assert before <= created <= after

    [(addr, ends, remaining, count, reason)] = listing(state)
    assert (addr, count, reason) == ("192.0.2.1", "1", "operator")
    assert utc(ends) == until
    assert 85 <= seconds(remaining) <= 90

    assert ok(state, "del", "192.0.2.1") == "Lifted the ban of 192.0.2.1.\n"
    assert rows(state) == []
    assert listing(state) == []
    r = ban(state, "del", "192.0.2.1")
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr == "bastion: ban del: no ban for 192.0.2.1\n"


@pytest.mark.parametrize("arg,secs", [
    ("90", 90), ("45s", 45), ("30m", 1800), ("2h", 7200), ("7d", 7 * 86400),
    ("1", 1), ("3650d", 3650 * 86400), ("315360000", 315360000),
])
def test_time_forms(state, arg, secs):
    before = int(time.time())
    ok(state, "add", "198.51.100.7", arg)
    after = int(time.time())
    [(_, until, _, _, _)] = rows(state)
    assert before + secs <= until <= after + secs


def test_default_time_is_ban_max(state):
    before = int(time.time())
    out = ok(state, "add", "192.0.2.1")
    assert "(1d0h0m0s; ban 1 of this source)" in out  # ban_max's default, 86400
    conf(state, "[guard]\nban_max = 7200")
    ok(state, "add", "192.0.2.2")
    after = int(time.time())
    until = {r[0]: r[1] for r in rows(state)}
    assert before + 86400 <= until["192.0.2.1"] <= after + 86400
    assert before + 7200 <= until["192.0.2.2"] <= after + 7200


def test_add_again_counts_up_and_replaces(state):
    ok(state, "add", "192.0.2.1", "1h")
    out = ok(state, "add", "192.0.2.1", "10m")
    assert "ban 2 of this source" in out
    [(_, until, count, reason, _)] = rows(state)
    assert count == 2
    assert until <= time.time() + 600 + 1  # replaced, even by a shorter ban
    # A ban the server made (and that has ended) still carries its count.
    insert(state, "203.0.113.9", time.time() - 3600, count=3, reason="brute force")
    out = ok(state, "add", "203.0.113.9", "5m")
    assert "ban 4 of this source" in out
    row = [r for r in rows(state) if r[0] == "203.0.113.9"][0]
    assert (row[2], row[3]) == (4, "operator")


def test_list_shows_active_bans_soonest_first(state):
    now = time.time()
    insert(state, "192.0.2.30", now + 3000, count=2, reason="rate")
    insert(state, "192.0.2.10", now - 5, count=5, reason="scanner")  # over
    insert(state, "2001:db8:9::/64", now + 100, reason="brute force")
    insert(state, "192.0.2.20", now + 86400 * 3 + 7200, reason="")
    got = listing(state)
    assert [g[0] for g in got] == ["2001:db8:9::/64", "192.0.2.30", "192.0.2.20"]
    assert got[0][3:] == ("1", "brute force")
    assert got[1][3:] == ("2", "rate")
    assert got[2][3:] == ("1", "-")
    assert 90 <= seconds(got[0][2]) <= 100
    assert re.fullmatch(r"3d1h59m5\ds|3d2h0m0s", got[2][2]), got[2][2]


def test_times_do_not_depend_on_time_zone(state):
    insert(state, "192.0.2.1", 4102444800)  # 2100-01-01T00:00:00Z
    utc_lines = listing(state)
    assert utc_lines[0][1] == "2100-01-01T00:00:00Z"
    for tz in ("America/New_York", "Asia/Kolkata"):
        got = listing(state, env={"TZ": tz, "LC_ALL": "C.UTF-8"})
        assert got[0][1] == "2100-01-01T00:00:00Z"


def test_ipv6_is_banned_by_its_prefix(state):
    out = ok(state, "add", "2001:db8:1:2::5", "1h")
    assert out.startswith("Banned 2001:db8:1:2::/64 until ")
    # Another address of the same /64, another spelling, the prefix itself.
    assert "ban 2 of this source" in ok(state, "add", "2001:DB8:1:2:ffff::1", "1h")
    assert "ban 3 of this source" in ok(state, "add", "2001:0db8:0001:0002::/64", "1h")
    assert [r[0] for r in rows(state)] == ["2001:db8:1:2::/64"]
    assert ok(state, "del", "2001:db8:1:2:aaaa::77") == "Lifted the ban of 2001:db8:1:2::/64.\n"
    assert rows(state) == []
    # IPv4-mapped IPv6 is the IPv4 source, as the server keys it.
    assert ok(state, "add", "::ffff:192.0.2.5", "1m").startswith("Banned 192.0.2.5 until ")
    assert ok(state, "add", "192.0.2.6/32", "1m").startswith("Banned 192.0.2.6 until ")
    assert [r[0] for r in rows(state)] == ["192.0.2.5", "192.0.2.6"]


def test_ipv6_prefix_follows_the_configuration(state):
    conf(state, "[guard]\nipv6_prefix = 48")
    assert ok(state, "add", "2001:db8:1:2::5", "1h").startswith("Banned 2001:db8:1::/48 until ")
    assert ok(state, "add", "2001:db8:1::/48", "1h").startswith("Banned 2001:db8:1::/48 until ")
    r = ban(state, "add", "2001:db8:1:2::/64", "1h")
    assert r.returncode == 2
    assert "a prefix must be exactly /48 for IPv6 ([guard] ipv6_prefix)" in r.stderr


def test_del_takes_a_key_from_before_a_prefix_change(state):
    ok(state, "add", "2001:db8:1:2::5", "1h")
    with open(os.path.join(state, "bastion.conf"), "a") as f:
        f.write("\n[guard]\nipv6_prefix = 56\n")
    # The listing shows the stored key; the address now means its /56.
    assert [g[0] for g in listing(state)] == ["2001:db8:1:2::/64"]
    r = ban(state, "del", "2001:db8:1:2::5")
    assert r.returncode == 1
    assert r.stderr == "bastion: ban del: no ban for 2001:db8:1::/56\n"
    assert ok(state, "del", "2001:db8:1:2::/64") == "Lifted the ban of 2001:db8:1:2::/64.\n"
    assert rows(state) == []
    # Anything else that does not parse is still a bad address.
    r = ban(state, "del", "2001:db8:1:2::/64")
    assert r.returncode == 2
    assert r.stderr.startswith("bastion: ban del: bad address '2001:db8:1:2::/64'")


def test_del_of_an_ended_ban_forgets_it(state):
    insert(state, "192.0.2.1", time.time() - 10, count=4)
    out = ok(state, "del", "192.0.2.1")
    assert out == "The ban of 192.0.2.1 had already ended; its record (4 bans) is removed.\n"
    assert rows(state) == []
    assert ban(state, "del", "192.0.2.1").returncode == 1


@pytest.mark.parametrize("bad", [
    "banana", "192.0.2.256", "192.0.2.0/24", "2001:db8::/48", "2001:db8::/128",
    " 192.0.2.1", "192.0.2.1 ", "192.0.2.1:5060", "[2001:db8::1]", "fe80::1%eth0",
    "example.test", "", "192.0.2.1/", "192.0.2.1/33", "::ffff:192.0.2.1/96",
    "-1", "1.2.3.4\x1b[2J",
])
def test_bad_address_is_refused(state, bad):
    for args in (["add", bad, "1h"], ["add", bad], ["del", bad]):
        r = ban(state, *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert r.stdout == ""
        first = r.stderr.splitlines()[0]
        assert first.startswith(f"bastion: ban {args[0]}: bad address '"), r.stderr
        assert re.search(r"expected an IPv4 or IPv6 address|a prefix must be exactly", first)
        assert "\x1b" not in r.stderr
        assert "bastion ban --help" in r.stderr
    assert rows(state) == []


@pytest.mark.parametrize("bad,why", [
    ("0", "at least 1 second"), ("0s", "at least 1 second"),
    ("3651d", "at most 10 years (3650d)"), ("315360001", "at most 10 years"),
    ("99999999999999999", "at most 10 years"),
    ("1w", "unknown unit 'w' (use s, m, h or d)"), ("2H", "unknown unit 'H'"),
    ("-5", "expected seconds"), ("1.5h", "expected seconds"), ("2h30m", "expected seconds"),
    ("", "empty"), ("forever", "expected seconds"), (" 5", "expected seconds"),
])
def test_bad_time_is_refused(state, bad, why):
    r = ban(state, "add", "192.0.2.1", bad)
    assert r.returncode == 2, (bad, r.stdout, r.stderr)
    assert r.stdout == ""
    first = r.stderr.splitlines()[0]
    assert first.startswith("bastion: ban add: bad TIME '"), r.stderr
    assert why in first, first
    assert rows(state) == []


def test_allow_listed_address_is_refused(state):
    conf(state, "[guard]\nallow = 10.0.0.0/8, 192.0.2.7, 2001:db8:aa::/48")
    for addr, cidr, key in [("10.1.2.3", "10.0.0.0/8", "10.1.2.3"),
                            ("192.0.2.7", "192.0.2.7", "192.0.2.7"),
                            ("::ffff:10.9.9.9", "10.0.0.0/8", "10.9.9.9"),
                            ("2001:db8:aa:5::1", "2001:db8:aa::/48", "2001:db8:aa:5::/64"),
                            ("2001:db8:aa:5::/64", "2001:db8:aa::/48", "2001:db8:aa:5::/64")]:
        r = ban(state, "add", addr, "1h")
        assert r.returncode == 2, (addr, r.stdout, r.stderr)
        assert r.stdout == ""
        assert r.stderr == (f"bastion: ban add: {key} is in the [guard] allow list ({cidr}), "
                            "which is never banned; remove it from the list first\n")
    assert rows(state) == []
    # Neighbours are not on the list.
    ok(state, "add", "192.0.2.8", "1h")
    ok(state, "add", "11.0.0.1", "1h")
    ok(state, "add", "2001:db8:ab::1", "1h")
    assert [r[0] for r in rows(state)] == ["11.0.0.1", "192.0.2.8", "2001:db8:ab::/64"]


def test_hostile_rows_are_printed_escaped(state):
    # Written behind the store's back (it refuses control bytes).
    insert(state, "192.0.2.1\x1b[2J", time.time() + 60, reason="x\r\nowned")
    r = ban(state, "list")
    assert r.returncode == 0, r.stderr
    assert "\x1b" not in r.stdout and "\r" not in r.stdout
    assert r.stdout.startswith("192.0.2.1\\x1b[2J  ends ")
    assert r.stdout.rstrip("\n").endswith("reason x\\x0d\\x0aowned")
    assert len(r.stdout.splitlines()) == 1


def test_usage(state):
    r = run_cli("ban", "--help")
    assert r.returncode == 0
    assert r.stdout.startswith("usage: bastion ban list | add ADDR [TIME] | del ADDR")
    assert "30m" in r.stdout and "ipv6_prefix" in r.stdout and "allow list" in r.stdout
    assert "bastion ban list | add ADDR [TIME] | del ADDR" in run_cli("help").stdout
    assert run_cli("help", "ban").stdout == r.stdout
    for args in (["ban"], ["ban", "show"], ["ban", "list", "x"], ["ban", "add"],
                 ["ban", "add", "192.0.2.1", "1h", "x"], ["ban", "del"],
                 ["ban", "del", "192.0.2.1", "192.0.2.2"]):
        r = run_cli("--state", state, *args)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stdout == ""
        assert r.stderr.startswith("bastion: ban"), (args, r.stderr)
        assert "bastion ban --help" in r.stderr


def test_no_state_is_an_error(tmp_path):
    for args in (["list"], ["add", "192.0.2.1"], ["del", "192.0.2.1"]):
        r = run_cli("--state", str(tmp_path / "none"), "ban", *args)
        assert r.returncode == 1
        assert "bastion init" in r.stderr
    assert not os.path.exists(tmp_path / "none")


def test_schema(state):
    db = sqlite3.connect(os.path.join(state, "bastion.db"))
    cols = [r[1] for r in db.execute("PRAGMA table_info(bans)")]
    idx = [r[1] for r in db.execute("PRAGMA index_list(bans)")]
    on_until = [[c[2] for c in db.execute(f"PRAGMA index_info({i})")] for i in idx]
    version = db.execute("PRAGMA user_version").fetchone()[0]
    db.close()
    assert cols == ["addr", "until", "count", "reason", "created_at"]
    assert ["until"] in on_until
    assert version >= 4  # bans came with schema 4
