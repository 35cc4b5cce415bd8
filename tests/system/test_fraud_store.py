"""Toll-fraud counters kept in the store (issue 12, docs/trunks.md "Limits"):
a restart, or a second node, does not hand a caller a fresh budget.

- SQLite: a user reaches part of [fraud] calls_per_hour, the server stops
  (SIGTERM, waited for) and starts again, and the limit is hit at the same
  total count; a peer's calls_per_hour likewise;
- PostgreSQL (Debian's, started by tests/tools/pgtmp.py): two nodes on one
  database; calls placed through node A count against the same user's limit
  on node B once B has reread the counters (it logs when they change).
"""
import os
import sys
import time

import pytest

from conftest import DOMAIN, Phone, Server, events, free_port, import_users, sanitizer_report
from test_fraud import busy, refused
from test_trunks import USERS, Gateway, trunk_conf, users_of  # noqa: F401 (fixture)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tools"))
import pgtmp  # noqa: E402


def test_calls_per_hour_survive_a_restart(make_server, users_of):
    gw = Gateway("127.0.0.2")
    conf = trunk_conf([gw], "\n[fraud]\ncalls_per_hour = 5\n").replace(
        "[peer gw1]\n", "[peer gw1]\ncalls_per_hour = 4\n")
    s = users_of(make_server(conf))
    a = Phone(s, "1001", USERS["1001"])
    for n in ("+12125550100", "+12125550101"):
        busy(a, gw, s, f"sip:{n}@{DOMAIN}")
    # a restart: the two calls are still counted
    assert s.stop() == 0
    s.start()
    a = Phone(s, "1001", USERS["1001"])
    for n in ("+12125550102", "+12125550103"):
        busy(a, gw, s, f"sip:{n}@{DOMAIN}")
    # the peer's 4 calls of the hour are reached first: 2 before, 2 after
    refused(a, f"sip:+12125550104@{DOMAIN}")
    gw.no_invite(0.3)
    ev = events(s, "fraud.limit")
    assert ev and "the peer's calls in the last hour" in ev[-1]["reason"], ev
    # and again across a second restart, for the user: 1002 is fresh, 1001's
    # limit of 5 is one call away (4 counted), and the peer's is gone with a
    # higher cap
    assert s.stop() == 0
    text = open(s.conf_path).read().replace("calls_per_hour = 4\n", "calls_per_hour = 0\n")
    with open(s.conf_path, "w") as f:
        f.write(text)
    s.start()
    a = Phone(s, "1001", USERS["1001"])
    busy(a, gw, s, f"sip:+12125550105@{DOMAIN}")
    refused(a, f"sip:+12125550106@{DOMAIN}")
    ev = events(s, "fraud.limit")
    assert "[fraud] calls_per_hour" in ev[-1]["reason"] and ev[-1]["user"] == "1001", ev[-1]
    gw.no_invite(0.3)
    gw.close()


@pytest.fixture
def pg_nodes(tmp_path):
    if not pgtmp.available():
        pytest.skip("PostgreSQL not installed (scripts/deps.sh)")
    made = []
    with pgtmp.PgTmp() as pg:
        pg.createdb("fraud")
        url, env = pg.url("fraud"), {"PGPASSFILE": pg.pgpass}

        def make(extra_conf):
            s = Server(tmp_path / f"node{len(made)}", free_port(), extra_conf, DOMAIN, False,
                       database=url, env=env)
            made.append(s)
            return s.start()

        yield make
        problems = []
        for s in made:
            code = s.stop()
            bad = sanitizer_report(s.log_text())
            if bad:
                problems.append(f"sanitizer report in {s.log_path}:\n" + "\n".join(bad[:20]))
            if code != 0:
                problems.append(f"server exited with {code}:\n{s.log_text()[-3000:]}")
        assert not problems, "\n".join(problems)


def test_calls_per_hour_shared_by_two_nodes(pg_nodes, tmp_path):
    gw = Gateway("127.0.0.2")
    conf = trunk_conf([gw], "\n[fraud]\ncalls_per_hour = 3\n")
    a = pg_nodes(conf)
    b = pg_nodes(conf)
    import_users(a, USERS, tmp_path)
    for n in (a, b):
        n.wait_log("users reloaded", timeout=20)
    pa = Phone(a, "1001", USERS["1001"])
    for n in ("+12125550100", "+12125550101"):
        busy(pa, gw, a, f"sip:{n}@{DOMAIN}")
    # B rereads the counters (every 2 s) and sees A's two calls
    b.wait_log("other nodes placed 2 outside calls in the last hour", timeout=30)
    pb = Phone(b, "1001", USERS["1001"])
    busy(pb, gw, b, f"sip:+12125550102@{DOMAIN}")
    refused(pb, f"sip:+12125550103@{DOMAIN}")
    gw.no_invite(0.3)
    ev = events(b, "fraud.limit")
    assert ev and "[fraud] calls_per_hour" in ev[-1]["reason"], ev
    # and A, once it has reread B's call, refuses too
    a.wait_log("other nodes placed 1 outside calls in the last hour", timeout=30)
    refused(pa, f"sip:+12125550104@{DOMAIN}")
    gw.no_invite(0.3)
    gw.close()
