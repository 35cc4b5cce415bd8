#!/usr/bin/env python3
"""Judge a testssl.sh JSON report (--jsonfile) of Bastion's TLS listener.

Fails (exit 1, reasons printed) when testssl rated any finding LOW or worse
(weak protocol, weak cipher, a known vulnerability) or could not finish
(FATAL), when a protocol older than TLS 1.2 or a weak cipher category is
offered, or when the report lacks the checks it should have run (a scan that
did not reach the server must not pass). Prints one line per finding
otherwise.

usage: testssl_verdict.py REPORT.json
"""
import json
import sys

BAD_SEVERITIES = {"LOW", "MEDIUM", "HIGH", "CRITICAL", "FATAL"}
MUST_NOT_BE_OFFERED = ["SSLv2", "SSLv3", "TLS1", "TLS1_1", "cipherlist_NULL",
                       "cipherlist_aNULL", "cipherlist_EXPORT", "cipherlist_LOW",
                       "cipherlist_3DES_IDEA", "cipherlist_AVERAGE"]
MUST_BE_OFFERED = ["TLS1_2", "TLS1_3", "cipherlist_STRONG"]
MUST_HAVE_RUN = ["heartbleed", "CCS", "ROBOT", "secure_client_renego", "CRIME_TLS",
                 "POODLE_SSL", "SWEET32", "FREAK", "DROWN", "LOGJAM", "BEAST", "LUCKY13", "RC4"]


def main(path):
    try:
        with open(path) as f:
            report = json.load(f)
    except (OSError, ValueError) as e:
        print(f"testssl: no usable report {path}: {e}")
        return 1
    by_id = {r["id"]: r for r in report}
    problems = []
    for r in report:
        if r.get("severity") in BAD_SEVERITIES:
            problems.append(f"{r['id']} {r['severity']}: {r['finding']}")
    for i in MUST_NOT_BE_OFFERED:
        if i not in by_id:
            problems.append(f"{i}: not checked")
        elif not by_id[i]["finding"].startswith("not offered"):
            problems.append(f"{i} offered: {by_id[i]['finding']}")
    for i in MUST_BE_OFFERED:
        if i not in by_id or not by_id[i]["finding"].startswith("offered"):
            problems.append(f"{i} not offered: {by_id.get(i, {}).get('finding', 'not checked')}")
    for i in MUST_HAVE_RUN:
        if i not in by_id:
            problems.append(f"{i}: not checked")
        elif by_id[i]["severity"] != "OK":
            problems.append(f"{i} {by_id[i]['severity']}: {by_id[i]['finding']}")
    for r in report:
        if r["id"] in MUST_NOT_BE_OFFERED + MUST_BE_OFFERED + MUST_HAVE_RUN:
            print(f"  {r['id']:<22} {r['severity']:<5} {r['finding']}")
    if problems:
        print("testssl: FAILED")
        for p in problems:
            print("  " + p)
        return 1
    print(f"testssl: ok ({len(report)} findings, none weak)")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
