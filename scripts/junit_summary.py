#!/usr/bin/env python3
"""Count the test cases in every JUnit XML file of a folder and print the
totals as the last line, "N passed, N failed". Exit 1 when anything failed
or when no test ran at all (a run that tested nothing is not a pass)."""
import glob
import os
import sys
import xml.etree.ElementTree as ET


def main(folder):
    passed = failed = 0
    for path in sorted(glob.glob(os.path.join(folder, "*.xml"))):
        try:
            root = ET.parse(path).getroot()
        except ET.ParseError as e:
            print(f"{path}: unreadable JUnit file ({e}); counted as one failure")
            failed += 1
            continue
        for case in root.iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                failed += 1
                name = case.get("classname", "") + "." + case.get("name", "")
                print(f"FAILED {name}")
            elif case.find("skipped") is not None:
                print(f"SKIPPED {case.get('classname', '')}.{case.get('name', '')}")
                failed += 1
            else:
                passed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
