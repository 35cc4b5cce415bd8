#!/usr/bin/env python3
"""Replay the PROTOS c07-sip test cases (University of Oulu, OUSPG) against a
running server over UDP, the way the original tool does: each case's INVITE,
then its teardown (CANCEL), then a liveness check (an OPTIONS that must be
answered). Stops at the first case after which the server no longer answers.

Usage: protos_replay.py --archive c07-sip-cases.tar.xz --groups groups.tsv
                        --port 5060 [--host 127.0.0.1] [--junit out.xml]

Case format: "<n> <INVITE template of n bytes><m> <teardown template of m bytes>"
with placeholders <To> <From> <From-Address> <From-IP> <Local-Port> <Branch-ID>
<Call-ID> <CSeq> <Content-Length> (computed after substitution) and
<Teardown-Method>. Prints one line per group and a summary; exit 1 on failure.
"""
import argparse
import csv
import errno
import socket
import sys
import tarfile
import time
import uuid
from xml.sax.saxutils import quoteattr


def split_case(raw):
    """The two templates of one case file."""
    out = []
    pos = 0
    for _ in range(2):
        sp = raw.index(b" ", pos)
        n = int(raw[pos:sp])
        out.append(raw[sp + 1:sp + 1 + n])
        pos = sp + 1 + n
    return out


def fill(tpl, case, host, port, local_port):
    subst = {
        b"<To>": f"bastion@{host}:{port}".encode(),
        b"<From>": f"protos@{host}:{local_port}".encode(),
        b"<From-Address>": host.encode(),
        b"<From-IP>": host.encode(),
        b"<Local-Port>": str(local_port).encode(),
        b"<Branch-ID>": str(case).encode(),
        b"<Call-ID>": f"{case}-{uuid.uuid4().hex[:8]}".encode(),
        b"<CSeq>": str(case + 1).encode(),
        b"<Teardown-Method>": b"CANCEL",
    }
    for k, v in subst.items():
        tpl = tpl.replace(k, v)
    head, sep, body = tpl.partition(b"\r\n\r\n")
    return tpl.replace(b"<Content-Length>", str(len(body)).encode())


def options(host, port, local_port, n):
    return (f"OPTIONS sip:ping@{host}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {host}:{local_port};branch=z9hG4bKlive{n};rport\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:protos@{host}>;tag=live{n}\r\n"
            f"To: <sip:ping@{host}>\r\nCall-ID: live-{n}-{uuid.uuid4().hex}\r\n"
            f"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode()


def alive(sock, host, port, n, tries=3, wait=2.0):
    """Send OPTIONS until a 200 with our Call-ID comes back (bounded)."""
    local_port = sock.getsockname()[1]
    for attempt in range(tries):
        msg = options(host, port, local_port, f"{n}x{attempt}")
        callid = msg.split(b"Call-ID: ", 1)[1].split(b"\r\n", 1)[0]
        sock.sendto(msg, (host, port))
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = sock.recv(70000)
            except socket.timeout:
                break
            if data.startswith(b"SIP/2.0 200") and callid in data:
                return True
    return False


def load_groups(path):
    with open(path) as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [(r["group"], int(r["first_case"]), int(r["count"])) for r in rows]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--archive", required=True)
    ap.add_argument("--groups", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--junit")
    ap.add_argument("--max-seconds", type=float, default=900)
    args = ap.parse_args()

    cases = {}
    with tarfile.open(args.archive) as tar:
        for m in tar.getmembers():
            if m.isfile():
                cases[int(m.name.rsplit("/", 1)[1])] = tar.extractfile(m).read()
    groups = load_groups(args.groups)

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((args.host, 0))
    local_port = sock.getsockname()[1]
    start = time.monotonic()
    results = []  # (group, count, failure or None)
    dead_after = None
    oversized = 0
    for name, first, count in groups:
        failure = None
        for case in range(first, first + count):
            if dead_after is not None:
                failure = f"not run: server stopped answering after case {dead_after}"
                break
            if time.monotonic() - start > args.max_seconds:
                failure = f"time budget of {args.max_seconds}s exhausted at case {case}"
                break
            invite, teardown = split_case(cases[case])
            for tpl in (invite, teardown):
                msg = fill(tpl, case, args.host, args.port, local_port)
                try:
                    sock.sendto(msg, (args.host, args.port))
                except OSError as e:
                    # larger than a UDP datagram can be: it cannot reach
                    # the server over UDP, so there is nothing to test
                    if e.errno != errno.EMSGSIZE:
                        raise
                    oversized += 1
            if not alive(sock, args.host, args.port, case):
                failure = f"no answer to OPTIONS after case {case}"
                dead_after = case
                break
        results.append((name, count, failure))
        print(f"protos {name:32s} cases {first}-{first + count - 1}: "
              f"{'ok' if not failure else 'FAIL: ' + failure}", flush=True)

    failed = [r for r in results if r[2]]
    total = sum(c for _, c, _ in results)
    print(f"protos: {total} cases in {len(results)} groups, {len(failed)} groups failed, "
          f"{oversized} messages too large for one UDP datagram (not sendable), "
          f"{time.monotonic() - start:.1f}s")
    if args.junit:
        with open(args.junit, "w") as f:
            f.write('<testsuite name="protos-c07-sip">\n')
            for name, count, failure in results:
                f.write(f'  <testcase classname="protos" name={quoteattr(name)}>')
                if failure:
                    f.write(f"<failure message={quoteattr(failure)}/>")
                f.write("</testcase>\n")
            f.write("</testsuite>\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
