#!/usr/bin/env python3
"""tlstap overhead benchmark: untraced vs empty probes (the floor) vs tlstap.

Runs bench/ssl_workload (an in-process OpenSSL ping-pong over a socketpair),
or with --stack boringssl|gnutls|nss|go the same ping-pong on that stack
(boringssl_workload, gnutls_workload, nss_workload, go_workload), for each
message size, interleaving the modes R times, and prints the
median times, the overhead ratios, bytes captured / bytes sent, drops, and
tlstap's CPU time and peak RSS. See bench/README.md.

    sudo python3 bench/run.py --build build            # full run, a few minutes
    sudo python3 bench/run.py --build build --quick    # smoke test

Exit status: 0 when every run completed (whether targets were met or not:
a benchmark reports, it does not judge), 1 when something failed to run.
"""

import argparse
import base64
import collections
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

# floor: empty probes where tlstap probes (its own discovery picks the points);
# exported: empty probes on the exported SSL_write/SSL_read(_ex), where most
# tools probe, for comparison; floor+sys: the floor plus an empty program on
# the sys_enter tracepoint, tlstap's syscall hook (the part of tlstap's cost
# that is the hook itself, not its work).
# tlstap: writing JSON lines to a file in --out-dir, read back and checked
# byte by byte; tlstap-null: the same capture written to /dev/null, judged by
# tlstap's own summary (calls seen, losses by cause) -- what tlstap keeps up
# with when the output medium is not the limit.
MODES = ("untraced", "floor", "floor+sys", "exported", "tlstap", "tlstap-null")
FLOOR_MODES = {"floor": [], "floor+sys": ["--syscalls"], "exported": ["--exported"]}
SIZES = (64, 16384)
WORKLOADS = {"openssl": "ssl_workload", "boringssl": "boringssl_workload",
             "gnutls": "gnutls_workload", "nss": "nss_workload", "go": "go_workload"}
WORKLOAD_TITLES = {"openssl": "ssl_workload (OpenSSL) over a socketpair",
                   "boringssl": "boringssl_workload (Debian's android-libboringssl) over a "
                                "socketpair",
                   "gnutls": "gnutls_workload (GnuTLS) over a socketpair",
                   "nss": "nss_workload (NSS/NSPR) over loopback TCP",
                   "go": "go_workload (Go crypto/tls) over loopback TCP"}
# The files tlstap probes for each library stack, by the start of their names
# in the workload's /proc/PID/maps; the floor probes all of them. NSS is two:
# NSPR's PR_* functions and libssl3's SSL_ImportFD.
TARGET_FILES = {"openssl": ("libssl.so",), "boringssl": ("libssl.so",),
                "gnutls": ("libgnutls.so",), "nss": ("libnspr4.so", "libssl3.so")}

# Iterations per run, calibrated so an untraced run takes about 1.3 s on the
# development VM (2 vCPUs, kernel 6.18, OpenSSL 3.0, TLS 1.3 AES-256-GCM):
# ~2.2-2.6 us per SSL call at 64 B, ~6.5-8 us at 16 KiB. An empty
# uprobe+uretprobe pair adds ~14 us per call there, so the floor runs ~6-7x
# (64 B) and ~3x (16 KiB) longer. At 16 KiB a complete tlstap capture is
# ~3.5 GB of JSON (base64 of 4 x 16 KiB x count), which run.py reads back at
# ~200 MB/s; that is why the count is not higher.
COUNTS = {64: 150_000, 16384: 40_000}
QUICK_DIVISOR = 10

# The targets the issue sets.
TARGET_TLSTAP_OVER_FLOOR = 1.25
TARGET_CAPTURE_SIZE = 16384  # 100 % captured and zero drops at this size

READY_TIMEOUT = 30.0  # tracer attach / workload handshake
STOP_TIMEOUT = 120.0  # tracer exit after SIGINT (tlstap drains and flushes)

MIB = 1 << 20


class BenchError(Exception):
    """Something failed to run; the message says what and how to fix it."""


def default_count(size):
    if size in COUNTS:
        return COUNTS[size]
    # Same calibration: ~2.2 us + 0.28 ns/byte per call, 4 calls/iteration.
    return max(1000, int(1.3e6 / (4 * (2.2 + 0.00028 * size))))


# --- processes -------------------------------------------------------------


class LineWatcher:
    """Drains a child's pipe on a thread, keeps the last lines, and signals
    when a line starting with a given prefix appears."""

    def __init__(self, pipe, prefix=None, keep=40):
        self.lines = collections.deque(maxlen=keep)
        self.first_lines = []
        self.prefix = prefix
        self.matched = threading.Event()
        self.matched_line = None
        self.closed = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(pipe,), daemon=True)
        self._thread.start()

    def _run(self, pipe):
        try:
            for raw in pipe:
                line = raw.decode(errors="replace").rstrip("\n")
                self.lines.append(line)
                if len(self.first_lines) < 4:
                    self.first_lines.append(line)
                if self.prefix and not self.matched.is_set() and line.startswith(self.prefix):
                    self.matched_line = line
                    self.matched.set()
        finally:
            self.closed.set()

    def join(self, timeout=5.0):
        self._thread.join(timeout)

    def tail(self, n=15):
        return "\n".join("    " + l for l in list(self.lines)[-n:]) or "    (no output)"


class Children:
    """Every child started, so that an error or ^C never leaves one running."""

    def __init__(self):
        self.procs = []

    def start(self, argv, **kw):
        proc = subprocess.Popen(argv, **kw)
        self.procs.append(proc)
        return proc

    def kill_all(self):
        for proc in self.procs:
            if proc.returncode is None:
                try:
                    proc.kill()
                    proc.wait(5)
                except (OSError, subprocess.TimeoutExpired):
                    pass


CHILDREN = Children()


def wait4_timeout(proc, timeout):
    """Reaps proc with os.wait4 (for its rusage); None on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return rusage
        if time.monotonic() > deadline:
            return None
        time.sleep(0.02)


def describe_exit(code):
    if code < 0:
        return "was killed by " + signal.Signals(-code).name
    return "exited with status %d" % code


class Workload:
    """The workload started with --wait-stdin: it does its handshake, prints
    {"ready":pid} and blocks until released, so tracers can attach by pid."""

    def __init__(self, exe, size, count, api, tls, extra=()):
        self.name = os.path.basename(exe)
        self.argv = [exe, "--size", str(size), "--count", str(count), "--api", api, "--tls", tls,
                     "--wait-stdin"] + list(extra)
        self.proc = CHILDREN.start(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
        self.out = LineWatcher(self.proc.stdout, prefix='{"ready"')
        self.err = LineWatcher(self.proc.stderr)
        if not self.out.matched.wait(READY_TIMEOUT):
            self.proc.kill()
            self.proc.wait()
            raise BenchError("%s did not become ready (%s)\n  %s\n%s" % (
                self.name, describe_exit(self.proc.returncode), " ".join(self.argv), self.err.tail()))
        ready = json.loads(self.out.matched_line)
        if ready["ready"] != self.proc.pid:
            raise BenchError("%s reported pid %s, expected %d" %
                             (self.name, ready["ready"], self.proc.pid))
        self.pid = self.proc.pid

    def target_paths(self, stack):
        """The files the floor probes must hit: the TLS libraries this process
        mapped (TARGET_FILES), or for Go the program itself."""
        if stack == "go":
            return [os.path.realpath("/proc/%d/exe" % self.pid)]
        found = {}
        with open("/proc/%d/maps" % self.pid) as maps:
            for line in maps:
                fields = line.split(None, 5)
                if len(fields) < 6:
                    continue
                path = fields[5].strip()
                for prefix in TARGET_FILES[stack]:
                    if os.path.basename(path).startswith(prefix):
                        found.setdefault(prefix, path)
        missing = [p for p in TARGET_FILES[stack] if p not in found]
        if missing:
            raise BenchError("%s (pid %d) has no %s mapped; it must link its TLS library "
                             "dynamically" % (self.name, self.pid, " or ".join(missing)))
        return [found[p] for p in TARGET_FILES[stack]]

    def run(self, timeout):
        self.proc.stdin.write(b"\n")
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise BenchError("%s did not finish within %.0f s (raise --timeout)" %
                             (self.name, timeout))
        self.out.join()
        self.err.join()
        if self.proc.returncode != 0:
            raise BenchError("%s %s\n  %s\n%s" % (
                self.name, describe_exit(self.proc.returncode), " ".join(self.argv), self.err.tail()))
        result = json.loads(self.out.lines[-1])
        if result.get("pid") != self.pid:
            raise BenchError("%s printed an unexpected result: %s" %
                             (self.name, self.out.lines[-1]))
        return result


class Tracer:
    """A tracer process that announces on stderr when its probes are attached
    and exits on SIGINT."""

    def __init__(self, name, argv, ready_prefix):
        self.name = name
        self.argv = argv
        self.proc = CHILDREN.start(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
        self.out = LineWatcher(self.proc.stdout)
        self.err = LineWatcher(self.proc.stderr, prefix=ready_prefix)
        deadline = time.monotonic() + READY_TIMEOUT
        while not self.err.matched.wait(0.05):
            if self.proc.poll() is not None:
                self.err.join()
                raise BenchError("%s %s before attaching (waited for a line starting %r)\n  %s\n%s"
                                 % (name, describe_exit(self.proc.returncode), ready_prefix,
                                    " ".join(argv), self._output_tail()))
            if time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait()
                raise BenchError("%s did not attach within %.0f s (no stderr line starting %r)"
                                 "\n  %s\n%s" % (name, READY_TIMEOUT, ready_prefix,
                                                 " ".join(argv), self._output_tail()))

    def cpu_seconds(self):
        """User+system CPU time the tracer has used so far (0 if it is gone)."""
        try:
            with open("/proc/%d/stat" % self.proc.pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        # after "pid (comm)": state is field 3, utime 14 and stime 15
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _output_tail(self):
        return self.err.tail() + ("\n  stdout:\n" + self.out.tail(5) if self.out.lines else "")

    def stop(self):
        """SIGINT, wait for a clean exit; returns (cpu seconds, peak RSS bytes)."""
        self.proc.send_signal(signal.SIGINT)
        rusage = wait4_timeout(self.proc, STOP_TIMEOUT)
        if rusage is None:
            self.proc.kill()
            wait4_timeout(self.proc, 10)
            raise BenchError("%s did not exit within %.0f s of SIGINT\n  %s\n%s" % (
                self.name, STOP_TIMEOUT, " ".join(self.argv), self._output_tail()))
        self.out.join()
        self.err.join()
        if self.proc.returncode != 0:
            raise BenchError("%s %s after SIGINT\n  %s\n%s" % (
                self.name, describe_exit(self.proc.returncode), " ".join(self.argv),
                self._output_tail()))
        return rusage.ru_utime + rusage.ru_stime, rusage.ru_maxrss * 1024


# --- tlstap output -----------------------------------------------------------

# The workloads fill their message with 'a' + i % 26, so every captured chunk
# must be a run of that cycle: each byte followed by its successor.
_NEXT_LETTER = bytes.maketrans(b"abcdefghijklmnopqrstuvwxyz", b"bcdefghijklmnopqrstuvwxyza")


def looks_like_workload_data(data):
    return data[1:] == data[:-1].translate(_NEXT_LETTER) and all(0x61 <= b <= 0x7a
                                                                 for b in data[:1])


def read_capture(path, pid):
    """Sums tlstap's JSON-lines output for one pid."""
    cap = {"tx": 0, "rx": 0, "events": 0, "short_events": 0, "captured_mismatch": 0,
           "content_errors": 0, "bad_lines": 0, "other_pids": 0, "lost": None}
    with open(path, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                cap["bad_lines"] += 1
                continue
            kind = obj.get("type")
            if kind == "data":
                if obj.get("pid") != pid:
                    cap["other_pids"] += 1
                    continue
                data = base64.b64decode(obj.get("data", ""))
                direction = obj.get("dir")
                if direction in ("tx", "rx"):
                    cap[direction] += len(data)
                cap["events"] += 1
                if "captured" in obj and obj["captured"] != len(data):
                    cap["captured_mismatch"] += 1
                if isinstance(obj.get("len"), int) and len(data) < obj["len"]:
                    cap["short_events"] += 1  # fine if chunks follow; counted for the record
                if data and not looks_like_workload_data(data):
                    cap["content_errors"] += 1
            elif kind == "stats" and obj.get("final"):
                cap["lost"] = {k: v for k, v in obj.get("lost", {}).items()
                               if isinstance(v, (int, float))}
    return cap


def read_summary(stderr_lines):
    """tlstap's exit summary on stderr (written there when -w is given):
    "tlstap: N calls, ..." and "tlstap: lost: nothing" or the causes."""
    summary = {"calls": None, "lost": None}
    for line in stderr_lines:
        m = re.match(r"tlstap: (\d+) calls,", line)
        if m:
            summary["calls"] = int(m.group(1))
        elif line.startswith("tlstap: lost: "):
            summary["lost"] = line[len("tlstap: lost: "):].strip()
    return summary


# --- one run -----------------------------------------------------------------

BPF_PROG_TYPE_KPROBE = 2  # uprobes are kprobe-type programs


def probe_holders():
    """Processes holding kprobe/uprobe BPF programs: if any run while we
    measure (another tracer, a test suite), every mode pays for their hits."""
    holders = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir("/proc/%s/fd" % pid)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink("/proc/%s/fd/%s" % (pid, fd)) != "anon_inode:bpf-prog":
                    continue
                with open("/proc/%s/fdinfo/%s" % (pid, fd)) as info:
                    if "prog_type:\t%d\n" % BPF_PROG_TYPE_KPROBE not in info.read():
                        continue
                with open("/proc/%s/comm" % pid) as comm:
                    holders.add("%s[%s]" % (comm.read().strip(), pid))
                break
            except OSError:
                continue
    return holders


def run_once(mode, exe, size, count, args, out_dir):
    """One workload run in one mode; returns a dict of measurements."""
    others = probe_holders() if os.geteuid() == 0 else set()
    workload = Workload(exe["workload"], size, count, args.api, args.tls)
    tracer = None
    outfile = None
    try:
        if mode in FLOOR_MODES:
            extra = FLOOR_MODES[mode]
            tracer = Tracer("floor_probes",
                            [exe["floor_probes"]] + extra + workload.target_paths(args.stack),
                            "floor: attached")
        elif mode in ("tlstap", "tlstap-null"):
            if mode == "tlstap":
                outfile = os.path.join(out_dir, "tlstap-%d-%d.jsonl" % (size, workload.pid))
            sink = outfile or "/dev/null"
            tracer = Tracer("tlstap", [exe["tlstap"], "--json", "-w", sink, "--pid",
                                       str(workload.pid)] + args.tlstap_args.split(),
                            "tlstap: capturing")
        cpu_before = tracer.cpu_seconds() if tracer else 0.0
        result = workload.run(args.timeout)
        result["mode"] = mode
        if tracer:
            # During the timed loop only: start-up (BTF, program loads) and
            # draining after the end are not the cost of keeping up.
            result["cpu_loop"] = tracer.cpu_seconds() - cpu_before
            cpu, rss = tracer.stop()
            tracer_lines = list(tracer.err.lines)
            tracer = None
        # Anyone who started probing during the run counts too.
        result["others"] = others | (probe_holders() if os.geteuid() == 0 else set())
        if mode in ("tlstap", "tlstap-null"):
            result["cpu"] = cpu
            result["rss"] = rss
        if mode == "tlstap-null":
            result["summary"] = read_summary(tracer_lines)
        if mode == "tlstap":
            if not os.path.exists(outfile):
                raise BenchError("tlstap exited cleanly but wrote no %s" % outfile)
            result["capture"] = read_capture(outfile, workload.pid)
            result["out_bytes"] = os.path.getsize(outfile)
        return result
    finally:
        if tracer and tracer.proc.returncode is None:
            tracer.proc.kill()
            wait4_timeout(tracer.proc, 10)
        if workload.proc.returncode is None:
            workload.proc.kill()
            workload.proc.wait()
        if outfile and os.path.exists(outfile) and not args.keep_output:
            os.unlink(outfile)


# --- report ------------------------------------------------------------------


def verdict(ok):
    return "PASS" if ok else "MISS"


def fmt_ratio(num, den):
    return "%.2fx" % (num / den) if num is not None and den else "-"


def measure_write_speed(out_dir, total=1 << 30, block=64 << 10):
    """Bytes/s that out_dir takes from write(2) (1 GiB of 64 KiB writes, no
    fsync, as tlstap writes): what a complete capture to a file is up against."""
    path = os.path.join(out_dir, "write-speed.tmp")
    chunk = os.urandom(block)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        start = time.monotonic()
        for _ in range(total // block):
            os.write(fd, chunk)
        return total / (time.monotonic() - start)
    finally:
        os.close(fd)
        os.unlink(path)


def report_size(size, count, runs, modes, write_speed=None):
    """Prints one size's table and key ratios; returns [(target, ok)]."""
    med = {m: statistics.median(r["seconds"] for r in runs[m]) for m in modes if runs[m]}
    calls = runs[modes[0]][0]["ssl_calls"]
    reps = len(runs[modes[0]])
    print()
    print("== %s messages: %d iterations, %d SSL calls per run, median of %d ==" % (
        human_size(size), count, calls, reps))
    print("  %-11s %8s %10s %12s   %s" % ("mode", "seconds", "us/call", "vs untraced", "all runs (s)"))
    for m in modes:
        each = " ".join("%.3f" % r["seconds"] for r in runs[m])
        print("  %-11s %8.3f %10.2f %12s   %s" % (m, med[m], med[m] / calls * 1e6,
                                                 fmt_ratio(med[m], med.get("untraced")), each))

    disturbed = sorted(set().union(*(r["others"] for m in modes for r in runs[m])))
    if disturbed:
        n = sum(1 for m in modes for r in runs[m] if r["others"])
        print("  WARNING: %d of %d runs started while other processes held kprobe/uprobe BPF "
              "programs (%s); their probe hits are in these times" % (
                  n, sum(len(runs[m]) for m in modes), " ".join(disturbed)))

    verdicts = []
    print("  key ratios:")
    if "untraced" in med and "floor" in med:
        print("    floor/untraced     %8s   (what the probe hits alone cost)" %
              fmt_ratio(med["floor"], med["untraced"]))
    if "untraced" in med and "floor+sys" in med:
        print("    floor+sys/untraced %8s   (and an empty sys_enter program)" %
              fmt_ratio(med["floor+sys"], med["untraced"]))
    if "untraced" in med and "exported" in med:
        print("    exported/untraced  %8s   (empty probes on the exported SSL_* wrappers)" %
              fmt_ratio(med["exported"], med["untraced"]))
    if "untraced" in med and "tlstap" in med:
        print("    tlstap/untraced    %8s" % fmt_ratio(med["tlstap"], med["untraced"]))
    if "floor" in med and "tlstap" in med:
        ratio = med["tlstap"] / med["floor"]
        ok = ratio <= TARGET_TLSTAP_OVER_FLOOR
        verdicts.append(("%s tlstap/floor <= %.2f" % (human_size(size), TARGET_TLSTAP_OVER_FLOOR),
                         ok))
        print("    tlstap/floor       %7.2fx   target <= %.2fx   %s" % (
            ratio, TARGET_TLSTAP_OVER_FLOOR, verdict(ok)))
        # tlstap/floor of each repetition, to show the spread behind the median
        per_rep = [t["seconds"] / f["seconds"] for t, f in zip(runs["tlstap"], runs["floor"])]
        if len(per_rep) > 1:
            print("      per repetition:  %s" % " ".join("%.2fx" % r for r in per_rep))
    if "tlstap" in runs and runs["tlstap"]:
        verdicts += report_capture(size, runs["tlstap"], med["tlstap"], write_speed)
    if "tlstap-null" in runs and runs["tlstap-null"]:
        verdicts += report_null_sink(size, runs["tlstap-null"], med)
    return verdicts


def report_null_sink(size, null_runs, med):
    """tlstap writing to /dev/null: every call seen and nothing lost, by its own count."""
    targeted = size == TARGET_CAPTURE_SIZE
    verdicts = []
    print("  tlstap -w /dev/null (no file I/O; judged by tlstap's own summary):")
    if "floor" in med:
        ratio = med["tlstap-null"] / med["floor"]
        print("    tlstap-null/floor  %7.2fx" % ratio)
    complete = all(r["summary"]["calls"] == r["ssl_calls"] and r["summary"]["lost"] == "nothing"
                   for r in null_runs)
    for r in null_runs:
        print("    calls seen %s of %d; lost: %s" % (r["summary"]["calls"], r["ssl_calls"],
                                                    r["summary"]["lost"]))
    if targeted:
        verdicts.append(("%s every call captured, zero drops (-w /dev/null)" % human_size(size),
                         complete))
    print_cpu(null_runs)
    return verdicts


def print_cpu(runs):
    """tlstap's CPU time, whole life and during the timed loop (medians)."""
    cpu = statistics.median(r["cpu"] for r in runs)
    loop = statistics.median(r["cpu_loop"] for r in runs)
    share = statistics.median(r["cpu_loop"] / r["seconds"] for r in runs)
    print("    tlstap CPU       %8.2f s   (user+sys, median, start-up included); "
          "while the workload ran %.2f s, %.0f %% of one CPU" % (cpu, loop, 100.0 * share))
    return cpu


def report_capture(size, tl_runs, seconds, write_speed):
    targeted = size == TARGET_CAPTURE_SIZE
    verdicts = []

    # Worst repetition for correctness, median for cost.
    ratios = []
    for r in tl_runs:
        sent = r["bytes_written"] + r["bytes_read"]
        c = r["capture"]
        ratios.append(((c["tx"] + c["rx"]) / sent if sent else 0.0, r))
    worst_ratio, worst = min(ratios, key=lambda x: x[0])
    c = worst["capture"]
    tx_pct = 100.0 * c["tx"] / worst["bytes_written"]
    rx_pct = 100.0 * c["rx"] / worst["bytes_read"]
    line = "    captured/sent    %8.2f %%   (tx %.2f %%, rx %.2f %%; worst of %d; %d events)" % (
        100.0 * worst_ratio, tx_pct, rx_pct, len(tl_runs), c["events"])
    if targeted:
        ok = c["tx"] == worst["bytes_written"] and c["rx"] == worst["bytes_read"]
        verdicts.append(("%s captured/sent = 100 %%" % human_size(size), ok))
        line += "   target 100 %%   %s" % verdict(ok)
    print(line)
    if write_speed and worst_ratio > 0:
        # The JSON a complete capture makes: what the worst run wrote, scaled
        # up by what it missed.
        needed = worst["out_bytes"] / worst_ratio / seconds
        print("    output medium    %8.0f MB/s taken by --out-dir (write(2), measured alone "
              "before the runs); a complete capture writes ~%.0f MB/s of JSON during the run" % (
                  write_speed / 1e6, needed / 1e6))

    stats_missing = any(r["capture"]["lost"] is None for r in tl_runs)
    drops = [sum(r["capture"]["lost"].values()) if r["capture"]["lost"] is not None else None
             for r in tl_runs]
    if stats_missing:
        line = "    drops            unknown   (no final stats line in tlstap's output)"
    else:
        line = "    drops            %8d   (worst of %d)" % (max(drops), len(drops))
    if targeted:
        ok = not stats_missing and max(drops) == 0
        verdicts.append(("%s drops = 0" % human_size(size), ok))
        line += "   target 0   %s" % verdict(ok)
    print(line)
    by_cause = collections.Counter()
    for r in tl_runs:
        by_cause.update({k: v for k, v in (r["capture"]["lost"] or {}).items() if v})
    for cause, n in sorted(by_cause.items()):
        print("      %-28s %d (all runs)" % (cause, n))

    problems = collections.Counter()
    for r in tl_runs:
        for key in ("content_errors", "captured_mismatch", "bad_lines"):
            problems[key] += r["capture"][key]
    if any(problems.values()):
        print("    output problems: %d events with bytes that are not the workload's, "
              "%d with \"captured\" != decoded length, %d unparsable lines" % (
                  problems["content_errors"], problems["captured_mismatch"],
                  problems["bad_lines"]))
        verdicts.append(("%s captured bytes are the bytes sent" % human_size(size),
                         problems["content_errors"] == 0))

    print_cpu(tl_runs)
    print("    tlstap peak RSS  %8.1f MiB (max of %d)" % (
        max(r["rss"] for r in tl_runs) / MIB, len(tl_runs)))
    return verdicts


def human_size(size):
    return "%d KiB" % (size // 1024) if size % 1024 == 0 else "%d B" % size


# --- main --------------------------------------------------------------------


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--build", default="./build", help="CMake build directory (default ./build)")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 1/%d of the iterations, one repetition" % QUICK_DIVISOR)
    p.add_argument("--reps", type=int, help="repetitions per mode (default 3, 1 with --quick)")
    p.add_argument("--sizes", default=",".join(map(str, SIZES)),
                   help="message sizes in bytes (default %(default)s)")
    p.add_argument("--count", type=int, help="iterations per run, for every size "
                   "(default: calibrated, %s)" % ", ".join("%d B: %d" % kv for kv in COUNTS.items()))
    p.add_argument("--modes", default=",".join(MODES),
                   help="subset of %s (default all)" % ",".join(MODES))
    p.add_argument("--api", choices=("plain", "ex"), default="plain",
                   help="SSL_write/SSL_read or the _ex forms (default plain)")
    p.add_argument("--tls", choices=("1.2", "1.3"), default="1.3")
    p.add_argument("--stack", choices=sorted(WORKLOADS), default="openssl",
                   help="which TLS stack's workload (default openssl)")
    p.add_argument("--timeout", type=float, default=900.0,
                   help="seconds one workload run may take (default %(default)s)")
    p.add_argument("--out-dir", help="where tlstap writes its output (default: a temporary "
                   "directory); at 16 KiB a run writes ~3.5 GB")
    p.add_argument("--keep-output", action="store_true", help="keep tlstap's output files")
    p.add_argument("--tlstap-args", default="",
                   help="extra options for tlstap, e.g. '--ring-size 16'")
    args = p.parse_args()

    modes_given = any(a.startswith("--modes") for a in sys.argv[1:])
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if args.stack != "openssl" and "exported" in args.modes:
        if modes_given:
            p.error("mode exported probes OpenSSL's exported functions: --stack openssl only")
        args.modes.remove("exported")
    if args.stack != "openssl" and args.api != "plain":
        p.error("--api ex is OpenSSL's")
    unknown = [m for m in args.modes if m not in MODES]
    if unknown or not args.modes:
        p.error("--modes takes a subset of %s" % ",".join(MODES))
    args.modes = [m for m in MODES if m in args.modes]  # fixed order: untraced, floor, tlstap
    try:
        args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        p.error("--sizes takes comma-separated byte counts")
    if not args.sizes or min(args.sizes) <= 0:
        p.error("--sizes takes positive byte counts")
    if args.reps is None:
        args.reps = 1 if args.quick else 3
    if args.reps < 1 or (args.count is not None and args.count < 1):
        p.error("--reps and --count must be positive")
    return args


def find_binaries(build, modes, stack):
    build = os.path.abspath(build)
    wanted = {"workload": os.path.join(build, "bench", WORKLOADS[stack])}
    if set(modes) & set(FLOOR_MODES):
        wanted["floor_probes"] = os.path.join(build, "bench", "floor_probes")
    if "tlstap" in modes or "tlstap-null" in modes:
        wanted["tlstap"] = os.path.join(build, "tlstap")
    missing = [p for p in wanted.values() if not os.access(p, os.X_OK)]
    if missing:
        hint = ("build them: cmake -S . -B %s && cmake --build %s" % (build, build))
        if any(p.endswith("/tlstap") for p in missing):
            hint += "; or leave tlstap out: --modes untraced,floor"
        raise BenchError("not found or not executable: %s\n  %s" % (", ".join(missing), hint))
    return wanted


def main():
    args = parse_args()
    exe = find_binaries(args.build, args.modes, args.stack)
    if os.geteuid() != 0 and set(args.modes) - {"untraced"}:
        raise BenchError("the floor and tlstap modes load BPF programs: run as root "
                         "(sudo python3 bench/run.py ...), or use --modes untraced")

    counts = {}
    for size in args.sizes:
        count = args.count or default_count(size)
        counts[size] = max(1, count // QUICK_DIVISOR) if args.quick else count

    print("tlstap benchmark: %s, TLS %s, %s API, modes %s, %d repetition%s interleaved" % (
        WORKLOAD_TITLES[args.stack], args.tls, args.api, "/".join(args.modes), args.reps,
        "" if args.reps == 1 else "s"))
    print("  kernel %s, %d CPUs, build %s" % (os.uname().release, os.cpu_count(),
                                             os.path.abspath(args.build)))

    if os.geteuid() == 0 and probe_holders():
        print("run.py: WARNING: these processes hold kprobe/uprobe BPF programs: %s; if they "
              "probe the workload's TLS library, every mode pays for their hits (and they may "
              "capture the workload's traffic)" % " ".join(sorted(probe_holders())),
              file=sys.stderr)

    out_dir = args.out_dir
    tmp = None
    if "tlstap" in args.modes and not out_dir:
        tmp = tempfile.TemporaryDirectory(prefix="tlstap-bench-")
        out_dir = tmp.name
    verdicts = []
    try:
        write_speed = measure_write_speed(out_dir) if "tlstap" in args.modes else None
        for size in args.sizes:
            runs = {m: [] for m in args.modes}
            for rep in range(args.reps):
                for mode in args.modes:
                    r = run_once(mode, exe, size, counts[size], args, out_dir)
                    runs[mode].append(r)
                    extra = ""
                    if mode == "tlstap":
                        c = r["capture"]
                        extra = "  captured %.2f %%, cpu %.2f s" % (
                            100.0 * (c["tx"] + c["rx"]) / (r["bytes_written"] + r["bytes_read"]),
                            r["cpu"])
                    if r["others"]:
                        extra += "  (other uprobe/kprobe users: %s)" % " ".join(
                            sorted(r["others"]))
                    print("  [%s rep %d/%d] %-8s %8.3f s%s" % (
                        human_size(size), rep + 1, args.reps, mode, r["seconds"], extra),
                        file=sys.stderr, flush=True)
            verdicts += report_size(size, counts[size], runs, args.modes, write_speed)
    finally:
        if tmp:
            tmp.cleanup()

    print()
    if verdicts:
        print("targets:")
        for name, ok in verdicts:
            print("  %s  %s" % (verdict(ok), name))
    else:
        print("targets: none measured (they need the floor and tlstap modes)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print("run.py: error: %s" % e, file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("run.py: interrupted", file=sys.stderr)
        sys.exit(1)
    finally:
        CHILDREN.kill_all()
