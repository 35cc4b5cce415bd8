#!/usr/bin/env python3
"""REGISTER-with-digest benchmark: N users (default 10,000) provisioned with
`bastion user import`, each registering once with SIPp (401 challenge, then
credentials), at a fixed offered rate. Prints registrations per second, the
failed count, and the server's CPU time per registration (user+sys from
/proc, the figure that does not depend on SIPp saturating first).

    bench/register.py [--bin build/bastion] [--users 10000] [--rate 2000]

The Kamailio comparison lives in its own benchmark (issue 7); this measures
Bastion alone. No timing is asserted anywhere: it reports.
"""
import argparse
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SCENARIO = os.path.join(ROOT, "tests", "system", "scenarios", "register_auth.xml")
DOMAIN = "bench.test"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick  # utime + stime


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "bastion"))
    ap.add_argument("--users", type=int, default=10000)
    ap.add_argument("--rate", type=int, default=2000, help="offered REGISTERs per second")
    ap.add_argument("--transport", default="u1")
    ap.add_argument("--keep", action="store_true", help="keep the state directory")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="bastion-bench-")
    state = os.path.join(work, "state")
    port = free_port()
    subprocess.run([args.bin, "init", "--state", state, "--domain", DOMAIN,
                    "--listen", f"udp:127.0.0.1:{port},tcp:127.0.0.1:{port}"],
                   check=True, capture_output=True)
    with open(os.path.join(state, "bastion.conf"), "a") as f:
        # SIPp 3.6: MD5 only, first challenge only, server address as digest uri
        f.write("\n[auth]\nalgorithms = MD5,SHA-256\nuri_check = relaxed\n"
                "[log]\nlevel = warn\nrefusal_log_rate = 1\n")
    users = {f"u{i:06d}": f"bench-password-{i:06d}" for i in range(args.users)}
    csv = os.path.join(work, "users.csv")
    inf = os.path.join(work, "sipp.csv")
    with open(csv, "w") as f, open(inf, "w") as g:
        g.write("SEQUENTIAL\n")
        for u, pw in users.items():
            md5 = hashlib.md5(f"{u}:{DOMAIN}:{pw}".encode()).hexdigest()
            sha = hashlib.sha256(f"{u}:{DOMAIN}:{pw}".encode()).hexdigest()
            f.write(f"{u},{DOMAIN},{md5},{sha}\n")
            g.write(f"{u};{pw}\n")
    t0 = time.monotonic()
    subprocess.run([args.bin, "--state", state, "user", "import", csv], check=True,
                   capture_output=True)
    import_s = time.monotonic() - t0

    log = open(os.path.join(work, "serve.log"), "w")
    srv = subprocess.Popen([args.bin, "--state", state, "serve"], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 15
        while "ready:" not in open(os.path.join(work, "serve.log")).read():
            if time.monotonic() > deadline or srv.poll() is not None:
                sys.exit("server did not start:\n" + open(os.path.join(work, "serve.log")).read())
            time.sleep(0.05)
        rss0, cpu0 = rss_kib(srv.pid), cpu_seconds(srv.pid)
        t0 = time.monotonic()
        r = subprocess.run(["sipp", "-sf", SCENARIO, "-inf", inf, "-m", str(args.users),
                            "-r", str(args.rate), "-l", str(max(100, args.rate)),
                            "-t", args.transport, "-nostdin", "-timeout", "300s",
                            "-timeout_error", f"127.0.0.1:{port}"],
                           capture_output=True, text=True, timeout=600, cwd=work)
        elapsed = time.monotonic() - t0
        cpu = cpu_seconds(srv.pid) - cpu0
        rss1 = rss_kib(srv.pid)
    finally:
        srv.send_signal(signal.SIGTERM)
        srv.wait(timeout=30)

    def stat(name):
        m = re.search(rf"{name}\s*\|\s*\d+\s*\|\s*(\d+)", r.stdout)
        return int(m.group(1)) if m else -1

    ok, failed = stat("Successful call"), stat("Failed call")
    print(f"users: {args.users}, import: {import_s:.2f} s, offered rate: {args.rate}/s, "
          f"transport: {args.transport}")
    print(f"registrations: {ok} ok, {failed} failed, {elapsed:.2f} s wall, "
          f"{ok / elapsed if elapsed else 0:.0f} registrations/s")
    print(f"server CPU: {cpu:.3f} s, {1e6 * cpu / ok if ok > 0 else 0:.1f} us per registration "
          f"(2 requests each: challenge + authenticated)")
    print(f"server RSS: {rss0} KiB before, {rss1} KiB after "
          f"({(rss1 - rss0) * 1024 / ok if ok > 0 else 0:.0f} bytes per binding)")
    if args.keep:
        print(f"state kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if failed == 0 and ok == args.users else 1


if __name__ == "__main__":
    sys.exit(main())
