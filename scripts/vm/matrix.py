#!/usr/bin/env python3
"""Prints the vm tier's matrix: capture path (test binary) x kernel.

    scripts/vm/matrix.py RESULTS_DIR [--host-junit FILE --build BUILD_DIR]

RESULTS_DIR holds one share per guest (linux-6.1/, linux-6.12/, as CTest's
vm tests leave them), each with the summary.tsv that tests/vm/guest.sh
writes: name, PASS/FAIL/ABSENT, passed/total, seconds, what ran. With
--host-junit (ctest --output-junit) and --build, the bpf tier as it ran on
this host's kernel is the first column, its tests grouped by binary through
the CTest files gtest_discover_tests wrote under BUILD_DIR/tests/bpf.

Only results present are shown: a column for each guest that ran, a row for
each check and binary any of them reports. Python standard library only.
"""

import argparse
import glob
import os
import platform
import re
import sys
import xml.etree.ElementTree as ET


def read_guest(share):
    """{row name: cell text} and the kernel release of one guest's share."""
    rows = {}
    summary = os.path.join(share, "summary.tsv")
    if not os.path.exists(summary):
        return None, None
    with open(summary) as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 4:
                continue
            name, verdict, count, seconds = fields[:4]
            cell = verdict
            if count != "-":
                cell += " " + count
            if seconds != "-":
                cell += f" {seconds}s"
            rows[name] = cell
    kernel_file = os.path.join(share, "kernel")
    kernel = open(kernel_file).read().strip() if os.path.exists(kernel_file) else None
    return rows, kernel


def test_binaries(build):
    """{ctest test name: binary name} for the bpf tier's discovered tests."""
    owner = {}
    pattern = re.compile(r"^add_test\(\s*\[=\[(.*?)\]=\]\s+(\S+)")
    for path in glob.glob(os.path.join(build, "tests", "bpf", "*_tests.cmake")):
        with open(path) as f:
            for line in f:
                m = pattern.match(line)
                if m:
                    owner[m.group(1)] = os.path.basename(m.group(2))
    return owner


def read_host(junit, build):
    """{binary: cell text} from ctest's JUnit file, bpf tests only."""
    owner = test_binaries(build)
    counts = {}  # binary -> [passed, skipped, total, seconds]
    for case in ET.parse(junit).getroot().iter("testcase"):
        binary = owner.get(case.get("name"))
        if binary is None:
            continue
        c = counts.setdefault(binary, [0, 0, 0, 0.0])
        c[2] += 1
        c[3] += float(case.get("time") or 0)
        failed = case.find("failure") is not None or case.find("error") is not None
        skipped = case.find("skipped") is not None or case.get("status") == "notrun"
        if skipped and not failed:
            c[1] += 1  # a missing kernel feature, named by the test (ktls on this host)
        elif not failed:
            c[0] += 1

    def cell(passed, skipped, total, seconds):
        verdict = "PASS" if passed + skipped == total else "FAIL"
        text = f"{verdict} {passed}/{total} {round(seconds)}s"
        return text + (f" ({skipped} skipped: kernel lacks it)" if skipped else "")

    return {b: cell(*c) for b, c in counts.items()}


def version_key(name):
    return [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", name)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results")
    parser.add_argument("--host-junit")
    parser.add_argument("--build")
    args = parser.parse_args()

    columns = []  # (title, {row: cell})
    host_first = False
    if args.host_junit and args.build and os.path.exists(args.host_junit):
        host = read_host(args.host_junit, args.build)
        if host:
            columns.append((f"{platform.release()} (host)", host))
            host_first = True
    for share in sorted(glob.glob(os.path.join(args.results, "linux-*")), key=version_key):
        rows, kernel = read_guest(share)
        if rows is not None:
            columns.append((kernel or os.path.basename(share), rows))
    if not columns:
        print(f"matrix: no results under {args.results}")
        return 0

    # Checks first, then capture paths, in the order the guests report them.
    names = []
    for _, rows in columns[1:] + columns[:1] if host_first else columns:
        for name in rows:
            if name not in names:
                names.append(name)
    names.sort(key=lambda n: 0 if n.startswith("check:") else 1)

    def short(name):
        return name[: -len("_bpf_test")] if name.endswith("_bpf_test") else name

    table = [["capture path"] + [title for title, _ in columns]]
    for name in names:
        table.append([short(name)] + [rows.get(name, "-") for _, rows in columns])
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    print("vm tier: capture path x kernel (PASS/FAIL passed/total seconds; - not run)")
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
