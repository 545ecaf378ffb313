#!/usr/bin/env python3
"""Handshake-heavy benchmark: a new TLS connection per request, untraced vs
`tlstap keys` (secrets only) vs `tlstap -w out.pcapng` (packets and secrets).

Runs `ssl_workload --new-connections` (OpenSSL client and server in one
process over loopback TCP: connect, full handshake, one round trip of
--size bytes, close; TCP_NODELAY), the modes interleaved R times, and
prints connections/s, the ratio to untraced, and what tlstap kept: key log
sessions (distinct client randoms) per connection made, and for the pcapng
mode the TCP connections in the file, how many of them tshark decrypts with no
key file (their encrypted Finished messages readable) and tlstap's own loss
summary. Reuses bench/run.py's workload and
tracer drivers.

    sudo python3 bench/handshakes.py --build build [--count 2000] [--reps 3] [--tls 1.3]

Exit status: 0 when every run completed (a benchmark reports, it does not
judge), 1 when something failed to run.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (bench/run.py: Workload, Tracer, CHILDREN, ...)

MODES = ("untraced", "keys", "pcapng")
ROOT_NOTE = 'Running as user "root" and group "root". This could be dangerous.'


def distinct_randoms(path):
    """Distinct client randoms in an NSS key log (one per TLS session)."""
    randoms = set()
    with open(path) as f:
        for line in f:
            fields = line.split()
            if len(fields) == 3 and not line.startswith("#"):
                randoms.add(fields[1])
    return len(randoms)


def pcapng_contents(path):
    """(TCP connections, connections decrypted) of a pcapng as tshark reads it
    with no key file: a connection counts as decrypted when tshark shows its
    Finished messages, which both TLS 1.2 and 1.3 send encrypted. The servers'
    ports (where the SYNs go) are read as TLS: tshark picks a dissector by
    port, and an ephemeral client port that is some protocol's (44818
    EtherNet/IP, 48898 ADS) would take about 1 connection in 1000 otherwise.
    tshark's warnings are an error."""
    def tshark(*args):
        proc = subprocess.run(["tshark", "-r", path] + list(args), capture_output=True, text=True)
        # tshark notes this whenever root runs it, whatever the file
        err = proc.stderr.replace(ROOT_NOTE, "").strip()
        if proc.returncode != 0 or err:
            raise run.BenchError("tshark -r %s: %s" % (path, err))
        return set(proc.stdout.split())
    decode_as = []
    for port in sorted(tshark("-Y", "tcp.flags.syn == 1 && tcp.flags.ack == 0", "-T", "fields",
                              "-e", "tcp.dstport")):
        decode_as += ["-d", "tcp.port==%s,tls" % port]
    streams = ["-T", "fields", "-e", "tcp.stream"]
    return (len(tshark(*streams)),
            len(tshark(*(decode_as + streams + ["-Y", "tls.handshake.type == 20"]))))


def run_once(mode, exe, args, out_dir):
    workload = run.Workload(exe["workload"], args.size, args.count, "plain", args.tls,
                            extra=["--new-connections"])
    tracer = None
    outfile = None
    try:
        if mode == "keys":
            outfile = os.path.join(out_dir, "keys-%d.log" % workload.pid)
            tracer = run.Tracer("tlstap keys", [exe["tlstap"], "keys", "-w", outfile, "--pid",
                                                str(workload.pid)], "tlstap: writing the TLS keys")
        elif mode == "pcapng":
            outfile = os.path.join(out_dir, "capture-%d.pcapng" % workload.pid)
            tracer = run.Tracer("tlstap -w pcapng",
                                [exe["tlstap"], "-w", outfile, "--pid", str(workload.pid)] +
                                args.pcapng_args.split(), args.pcapng_ready)
        result = workload.run(args.timeout)
        result["mode"] = mode
        if tracer:
            cpu, rss = tracer.stop()
            result["cpu"], result["rss"] = cpu, rss
            result["summary"] = run.read_summary(tracer.err.lines)
            result["stderr"] = list(tracer.err.lines)
            tracer = None
        if mode == "keys":
            result["sessions"] = distinct_randoms(outfile)
        elif mode == "pcapng":
            result["streams"], result["sessions"] = pcapng_contents(outfile)
            result["out_bytes"] = os.path.getsize(outfile)
        return result
    finally:
        if tracer and tracer.proc.returncode is None:
            tracer.proc.kill()
            run.wait4_timeout(tracer.proc, 10)
        if workload.proc.returncode is None:
            workload.proc.kill()
            workload.proc.wait()
        if outfile and os.path.exists(outfile) and not args.keep_output:
            os.unlink(outfile)


def report(args, runs):
    rate = {m: statistics.median(args.count / r["seconds"] for r in runs[m]) for m in runs}
    print("handshakes: ssl_workload --new-connections, TLS %s, %d connections of one %d-byte "
          "round trip, median of %d" % (args.tls, args.count, args.size, args.reps))
    print("%-9s %12s %9s  %s" % ("mode", "conn/s", "/untraced", "kept"))
    for m in runs:
        ratio = rate["untraced"] / rate[m] if "untraced" in rate else float("nan")
        kept = ""
        last = runs[m][-1]
        if m == "keys":
            kept = "sessions in key log: %s of %d per run" % (
                ",".join(str(r["sessions"]) for r in runs[m]), args.count)
        elif m == "pcapng":
            kept = "TCP connections in file: %s; decrypted by tshark alone: %s (of %d)" % (
                ",".join(str(r["streams"]) for r in runs[m]),
                ",".join(str(r["sessions"]) for r in runs[m]), args.count)
        print("%-9s %12.0f %8.2fx  %s" % (m, rate[m], ratio, kept))
        if "summary" in last:
            print("%-9s %12s %9s  tlstap: lost %s; CPU %.2f s, peak RSS %.0f MiB (last run)" % (
                "", "", "", last["summary"]["lost"], last["cpu"], last["rss"] / run.MIB))
    if "pcapng" in runs:
        print("pcapng mode, tlstap's last lines (last run):")
        for line in runs["pcapng"][-1]["stderr"][-6:]:
            print("  " + line)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--build", default="./build")
    p.add_argument("--count", type=int, default=2000, help="connections per run (default 2000)")
    p.add_argument("--size", type=int, default=100, help="bytes each way per connection")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--tls", choices=("1.2", "1.3"), default="1.3")
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument("--pcapng-args", default="-i lo",
                   help="more tlstap arguments in the pcapng mode (default: -i lo)")
    p.add_argument("--pcapng-ready", default="tlstap: writing the packets of traced connections",
                   help="the start of tlstap's stderr line that says it is capturing")
    p.add_argument("--timeout", type=float, default=600.0)
    p.add_argument("--out-dir", help="where tlstap writes (default: a temporary directory)")
    p.add_argument("--keep-output", action="store_true")
    args = p.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    if set(modes) - set(MODES):
        raise run.BenchError("--modes takes %s" % ",".join(MODES))
    if os.geteuid() != 0 and set(modes) - {"untraced"}:
        raise run.BenchError("the keys and pcapng modes load BPF programs: run as root")
    build = os.path.abspath(args.build)
    exe = {"workload": os.path.join(build, "bench", "ssl_workload"),
           "tlstap": os.path.join(build, "tlstap")}
    for path in exe.values():
        if not os.access(path, os.X_OK):
            raise run.BenchError("not found or not executable: %s (build first)" % path)
    runs = {m: [] for m in modes}
    with tempfile.TemporaryDirectory(prefix="tlstap-handshakes-") as tmp:
        out_dir = args.out_dir or tmp
        for rep in range(args.reps):
            for m in modes:
                r = run_once(m, exe, args, out_dir)
                runs[m].append(r)
                print("rep %d %-8s %8.0f conn/s" % (rep + 1, m, args.count / r["seconds"]),
                      file=sys.stderr)
    report(args, runs)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except run.BenchError as e:
        print("handshakes.py: error: %s" % e, file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("handshakes.py: interrupted", file=sys.stderr)
        sys.exit(1)
    finally:
        run.CHILDREN.kill_all()
