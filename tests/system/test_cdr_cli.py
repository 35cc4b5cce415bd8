"""`bastion cdr list`: call detail records read from the database that
`bastion init` created. There is no command that adds records (the proxy
does, through cdr_record()), so the tests insert rows with Python's sqlite3,
matching the schema, and check the listing, its order, its filters, every
--since form and the refusal of bad ones. The server opens cdr.log 0600."""
import os
import re
import sqlite3
import stat
import time

import pytest

from conftest import run_cli

LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)  (\S+) -> (\S+)  user (\S+)  "
                  r"status (\d{3})  duration (\d+)s  hangup (\w+)  src (\S+)  call-id (\S+)$")

# 2026-11-18T11:06:40Z
T0 = 1795000000


@pytest.fixture
def state(tmp_path):
    st = tmp_path / "st"
    r = run_cli("init", "--state", str(st), "--domain", "example.test")
    assert r.returncode == 0, r.stderr
    return str(st)


def add(state, call_id, start_s, user="1001", answered_after=None, end_after=5.0,
        status=None, hangup=None, caller=None, callee="sip:1002@example.test",
        src="udp:127.0.0.1:5062", transport="udp"):
    """Insert one row as the proxy would (times in unix ms)."""
    start = int(start_s * 1000)
    end = start + int(end_after * 1000)
    answer = start + int(answered_after * 1000) if answered_after is not None else 0
    if status is None:
        status = 200 if answer else 486
    if hangup is None:
        hangup = "caller" if answer else "none"
    duration = (end - answer) // 1000 if answer else 0
    caller = caller or f"sip:{user or 'anon'}@example.test"
    db = sqlite3.connect(os.path.join(state, "bastion.db"))
    with db:
        db.execute("INSERT INTO cdrs (call_id, caller, auth_user, callee, src, transport,"
                   " start_at, answer_at, end_at, final_status, duration_s, hangup)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (call_id, caller, user, callee, src, transport, start, answer, end,
                    status, duration, hangup))
    db.close()


def cdr_list(state, *args, env=None):
    r = run_cli("--state", state, "cdr", "list", *args, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    if r.stdout == "No call records.\n":
        return []
    lines = r.stdout.splitlines()
    for line in lines:
        assert LINE.match(line), line
    return lines


def ids(lines):
    return [LINE.match(line).group(9) for line in lines]


def test_empty(state):
    r = run_cli("--state", state, "cdr", "list")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "No call records.\n"


def test_fields_and_order(state):
    # Inserted out of order; listed by start time.
    add(state, "late@h", T0 + 3600, user="1002", answered_after=2.5, end_after=64.4,
        hangup="callee", caller="sip:1002@example.test", callee="sip:1001@example.test",
        src="tcp:[::1]:5070", transport="tcp")
    add(state, "early@h", T0, user="1001", answered_after=1.0, end_after=62.9)
    add(state, "anon@h", T0 + 60, user="", status=403)
    lines = cdr_list(state)
    assert ids(lines) == ["early@h", "anon@h", "late@h"]
    assert lines[0] == ("2026-11-18T11:06:40Z  sip:1001@example.test -> sip:1002@example.test  "
                        "user 1001  status 200  duration 61s  hangup caller  "
                        "src udp:127.0.0.1:5062  call-id early@h")
    assert lines[1] == ("2026-11-18T11:07:40Z  sip:anon@example.test -> sip:1002@example.test  "
                        "user -  status 403  duration 0s  hangup none  "
                        "src udp:127.0.0.1:5062  call-id anon@h")
    m = LINE.match(lines[2])
    assert m.group(1) == "2026-11-18T12:06:40Z"
    assert (m.group(4), m.group(5), m.group(6), m.group(7), m.group(8)) == \
        ("1002", "200", "61", "callee", "tcp:[::1]:5070")


def test_times_do_not_depend_on_time_zone_or_locale(state):
    add(state, "tz@h", T0, answered_after=1, end_after=2)
    utc = cdr_list(state)
    for tz in ("America/New_York", "Asia/Kolkata", "EST5EDT"):
        assert cdr_list(state, env={"TZ": tz, "LC_ALL": "C.UTF-8"}) == utc
    assert utc[0].startswith("2026-11-18T11:06:40Z ")


def test_user_filter(state):
    add(state, "a1", T0, user="alice")
    add(state, "b1", T0 + 1, user="bob")
    add(state, "a2", T0 + 2, user="alice")
    add(state, "n1", T0 + 3, user="")
    add(state, "ax", T0 + 4, user="alice2")
    assert ids(cdr_list(state, "--user", "alice")) == ["a1", "a2"]
    assert ids(cdr_list(state, "--user=bob")) == ["b1"]
    assert ids(cdr_list(state, "--user", "Alice")) == []
    assert ids(cdr_list(state, "--user", "ali")) == []
    assert ids(cdr_list(state, "--user", "")) == ["n1"]
    assert ids(cdr_list(state)) == ["a1", "b1", "a2", "n1", "ax"]


def test_since_absolute_forms(state):
    add(state, "d17", T0 - 86400)            # 2026-11-17T11:06:40Z
    add(state, "d18a", T0)                   # 2026-11-18T11:06:40Z
    add(state, "d18b", T0 + 3600)            # 2026-11-18T12:06:40Z
    add(state, "d19", T0 + 86400, user="x")  # 2026-11-19T11:06:40Z
    assert ids(cdr_list(state, "--since", "2026-11-18")) == ["d18a", "d18b", "d19"]
    assert ids(cdr_list(state, "--since", "2026-11-19")) == ["d19"]
    assert ids(cdr_list(state, "--since", "2026-11-20")) == []
    # Inclusive, to the second.
    assert ids(cdr_list(state, "--since", "2026-11-18T11:06:40Z")) == ["d18a", "d18b", "d19"]
    assert ids(cdr_list(state, "--since", "2026-11-18T11:06:41Z")) == ["d18b", "d19"]
    assert ids(cdr_list(state, "--since", "2026-11-18T12:06Z")) == ["d18b", "d19"]
    assert ids(cdr_list(state, "--since", str(T0))) == ["d18a", "d18b", "d19"]
    assert ids(cdr_list(state, "--since", str(T0 + 1))) == ["d18b", "d19"]
    assert ids(cdr_list(state, "--since", "0")) == ["d17", "d18a", "d18b", "d19"]
    # Combined with --user; and the date is UTC whatever TZ says.
    assert ids(cdr_list(state, "--since=2026-11-18", "--user", "1001")) == ["d18a", "d18b"]
    assert ids(cdr_list(state, "--since", "2026-11-18T11:06:41Z",
                        env={"TZ": "Pacific/Kiritimati"})) == ["d18b", "d19"]


def test_since_relative_forms(state):
    now = time.time()
    add(state, "3d", now - 3 * 86400)
    add(state, "90m", now - 90 * 60)
    add(state, "20m", now - 20 * 60)
    add(state, "10s", now - 10)
    assert ids(cdr_list(state, "--since", "-4d")) == ["3d", "90m", "20m", "10s"]
    assert ids(cdr_list(state, "--since", "-2d")) == ["90m", "20m", "10s"]
    assert ids(cdr_list(state, "--since", "-2h")) == ["90m", "20m", "10s"]
    assert ids(cdr_list(state, "--since", "-1h")) == ["20m", "10s"]
    assert ids(cdr_list(state, "--since", "-30m")) == ["20m", "10s"]
    assert ids(cdr_list(state, "--since", "-5m")) == ["10s"]
    assert ids(cdr_list(state, "--since", "-300s")) == ["10s"]
    assert ids(cdr_list(state, "--since", "-1s")) == []


@pytest.mark.parametrize("bad", [
    "yesterday", "", "-1", "-1y", "-1H", "- 1h", "-1h ", "1h", "+1h", "-1.5h",
    "2026-13-01", "2026-02-30", "2026-11-23T24:00:00Z", "2026-11-23T10:60Z",
    "2026-11-23T10:00:00", "2026-11-23T10:00", "2026-11-23 10:00:00Z",
    "2026-11-23T10:00:00+01:00", "26-11-23", "2026-1-5", "1969-12-31", "-m",
    "99999999999999", "-99999999999d", "-999999d", "12x",
])
def test_bad_since_is_a_clear_usage_error(state, bad):
    add(state, "x", T0)
    r = run_cli("--state", state, "cdr", "list", "--since", bad)
    assert r.returncode == 2, (bad, r.stdout, r.stderr)
    assert r.stdout == ""
    first = r.stderr.splitlines()[0]
    assert first.startswith("bastion: cdr list: bad --since "), r.stderr
    assert re.search(r"expected unix seconds|relative time is -N|unknown unit|no such date|"
                     r"add Z|out of range|too far back|empty", first), first
    assert "bastion cdr --help" in r.stderr


def test_since_error_messages_name_the_fix(state):
    r = run_cli("--state", state, "cdr", "list", "--since", "2026-11-23T10:00:00")
    assert "add Z: times are UTC (e.g. 2026-11-23T10:00:00Z)" in r.stderr
    r = run_cli("--state", state, "cdr", "list", "--since", "-3w")
    assert "unknown unit 'w' (use s, m, h or d)" in r.stderr
    r = run_cli("--state", state, "cdr", "list", "--since", "last week")
    assert "expected unix seconds, YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or -N{s,m,h,d}" in r.stderr


def test_hostile_values_are_printed_escaped(state):
    # Written behind the store's back (it refuses control bytes): the listing
    # must still print one escaped line per record.
    add(state, "evil\x1b[2J@h", T0, caller="sip:x@y\r\nuser root  status 200",
        callee="sip:\u00e9@example.test")
    r = run_cli("--state", state, "cdr", "list")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 1
    assert "\x1b" not in r.stdout and "\r" not in r.stdout
    assert "sip:x@y\\x0d\\x0auser root  status 200" in lines[0]
    assert "sip:\\xc3\\xa9@example.test" in lines[0]
    assert "call-id evil\\x1b[2J@h" in lines[0]


def test_usage(state):
    r = run_cli("cdr", "--help")
    assert r.returncode == 0
    assert r.stdout.startswith("usage: bastion cdr list [--since T] [--user U]")
    assert "-30m" in r.stdout and "2026-11-23T10:00:00Z" in r.stdout
    assert "bastion cdr list" in run_cli("help").stdout
    for args in (["cdr"], ["cdr", "show"], ["cdr", "list", "--frob"], ["cdr", "list", "x"],
                 ["cdr", "list", "--since"], ["cdr", "list", "--user", "a\tb"]):
        r = run_cli("--state", state, *args)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.startswith("bastion: cdr"), (args, r.stderr)


def test_no_state_is_an_error(tmp_path):
    r = run_cli("--state", str(tmp_path / "none"), "cdr", "list")
    assert r.returncode == 1
    assert "bastion init" in r.stderr


def test_schema_has_the_indexes(state):
    db = sqlite3.connect(os.path.join(state, "bastion.db"))
    idx = {row[1]: row for row in db.execute("PRAGMA index_list(cdrs)")}
    cols = {name: [r[2] for r in db.execute(f"PRAGMA index_info({name})")] for name in idx}
    db.close()
    assert ["start_at"] in cols.values()
    assert any(c[0] == "auth_user" for c in cols.values())


def test_server_opens_the_cdr_log_0600(make_server):
    s = make_server()
    path = os.path.join(s.state, "cdr.log")
    assert os.path.exists(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
