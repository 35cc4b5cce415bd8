"""bench/run --smoke against the binary under test, so the benchmark scripts
cannot rot: a few hundred REGISTERs with digest through SIPp from several
127.0.0.x sources, a wrong password refused, 50 authenticated calls through
the proxy (probe INVITE, callees registered from their SIPp UAS's port, every
call completed), both closed loops of the saturation workloads, small (200
registrations and 40 calls, 8 in flight, their message tables read from
every SIPp, nothing failed, no stale challenge), clean exit, no sanitizer
report. Nothing about speed is asserted."""
import os
import shutil
import subprocess
import sys

import pytest

from conftest import BIN, ROOT


@pytest.mark.skipif(shutil.which("sipp") is None, reason="SIPp (sip-tester) not installed")
def test_bench_smoke():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "run"), "--smoke",
                        "--bin", BIN], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "smoke: ok" in r.stdout
    assert "300 registrations ok, 0 failed" in r.stdout
    assert "wrong password refused: True" in r.stdout
    assert "calls: 50 of 50 ok, 0 failed" in r.stdout
    assert ("closed loops: registrations 200 of 200 ok, 0 failed, 0 stale, tables 4 of 4; "
            "calls 40 of 40 ok, 0 failed, 0 stale, tables 4 of 4") in r.stdout
