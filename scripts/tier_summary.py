#!/usr/bin/env python3
"""Prints each test tier's count and time, then one closing line.

    scripts/tier_summary.py [--every-tier] RESULTS_DIR BUILD_SECONDS "NAME SECONDS"...

RESULTS_DIR holds NAME-junit.xml for each tier (ctest --output-junit, as
scripts/test.sh writes them). A test ctest did not run because it was
skipped counts as skipped; the bpf tier's kTLS cases skip on a kernel
without kTLS and say which feature is missing. With --every-tier (the full
run), exits 1 when a tier ran no test: a tier never passes by running
nothing.
"""

import os
import sys
import xml.etree.ElementTree as ET


def counts(path):
    """(passed, failed, skipped) of one JUnit file; None when it is missing."""
    if not os.path.exists(path):
        return None
    passed = failed = skipped = 0
    for case in ET.parse(path).getroot().iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif case.find("skipped") is not None or case.get("status") == "notrun":
            skipped += 1
        else:
            passed += 1
    return passed, failed, skipped


def main():
    args = sys.argv[1:]
    every_tier = bool(args) and args[0] == "--every-tier"
    if every_tier:
        args = args[1:]
    results, build_seconds, tiers = args[0], int(args[1]), args[2:]
    total = [0, 0, 0]
    seconds = build_seconds
    empty = []
    print(f"tier build: {build_seconds} s (install, build, format check)")
    for entry in tiers:
        name, tier_seconds = entry.split()
        seconds += int(tier_seconds)
        c = counts(os.path.join(results, f"{name}-junit.xml"))
        if c is None or sum(c) == 0:
            empty.append(name)
            print(f"tier {name}: no test ran, {tier_seconds} s")
            continue
        line = f"tier {name}: {c[0]} passed, {c[1]} failed"
        if c[2]:
            line += f", {c[2]} skipped"
        print(f"{line}, {tier_seconds} s")
        total = [t + x for t, x in zip(total, c)]
    print(f"all tiers: {seconds} s")
    closing = f"{total[0]} passed, {total[1]} failed"
    if total[2]:
        closing += f", {total[2]} skipped"
    print(closing)
    if every_tier and empty:
        print(f"tier_summary: {', '.join(empty)} ran no test: failing the run")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
