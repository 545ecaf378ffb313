#!/usr/bin/env python3
"""How long a Go program started while tlstap runs goes unprobed.

Builds Go programs of several sizes (standard library only, GOPATH mode: no
module proxy needed), each linking crypto/tls and N generated functions that
a table keeps alive, so .gopclntab grows with N the way it does in large
real programs. Then, with one tlstap running, execs a fresh copy of each
(a new inode: a file tlstap has not seen) R times and reads tlstap's
late-attach line: "probes were in place X ms later", measured from the exec
itself (the probe's timestamp) to the moment the last probe was attached.

Run as root:  sudo python3 bench/exec_attach.py --build build [--funcs 0,20000,80000] [--runs 5]
With --tlstap-args=-v it also shows where the time goes: exec -> tlstap
noticed it, file inspected, probes attached. With --dial each program makes
one TLS request to a local server as soon as it starts, and the bench counts
the runs whose request tlstap captured; --tlstap-args=--hold-new shows what
holding new programs changes (and costs: the hold times, with -v).
Prints one line per size; numbers, not pass/fail. Building the largest
program takes minutes the first time; --work-dir keeps them for next time.
"""
import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

PROGRAM_HEAD = '''package main

import (
\t"crypto/tls"
\t"fmt"
\t"io"
\t"os"
\t"strconv"
)

'''

PROGRAM_MAIN = '''
func main() {
\tif len(os.Args) > 1 && os.Args[1] == "dial" {
\t\tc, err := tls.Dial("tcp", os.Args[2], &tls.Config{InsecureSkipVerify: true})
\t\tif err == nil {
\t\t\tc.Write([]byte(table[len(os.Args)%len(table)](3)))
\t\t\tbuf := make([]byte, 10)
\t\t\tc.Read(buf)
\t\t}
\t}
\tfmt.Println("waiting", len(table))
\tio.Copy(io.Discard, os.Stdin)
}
'''


def write_program(path, funcs):
    with open(path, "w") as f:
        f.write(PROGRAM_HEAD)
        f.write("var table = []func(int) string{\n")
        f.write("\tfunc(x int) string { return strconv.Itoa(x) },\n")
        for i in range(funcs):
            f.write(f"\tf{i},\n")
        f.write("}\n\n")
        for i in range(funcs):
            f.write(f'func f{i}(x int) string {{\n\tswitch x % 5 {{\n\tcase 0:\n'
                    f'\t\treturn "a{i}" + strconv.Itoa(x*{i})\n\tcase 1:\n'
                    f'\t\treturn fmt.Sprint(x, {i})\n\tcase 2:\n'
                    f'\t\treturn strconv.Itoa(x + {i})\n\t}}\n\treturn "z"\n}}\n\n')
        f.write(PROGRAM_MAIN)


def build(work, funcs):
    out = os.path.join(work, f"go_{funcs}")
    if os.path.exists(out):
        return out
    src_dir = os.path.join(work, f"src_{funcs}")
    os.makedirs(src_dir, exist_ok=True)
    write_program(os.path.join(src_dir, "main.go"), funcs)
    env = dict(os.environ, GOCACHE=os.path.join(work, "go-cache"),
               GOPATH=os.path.join(work, "go-path"), GO111MODULE="off", GOFLAGS="")
    print(f"building go_{funcs} ...", file=sys.stderr)
    t = time.monotonic()
    subprocess.run(["go", "build", "-ldflags=-s -w", "-o", out + ".tmp",
                    os.path.join(src_dir, "main.go")], env=env, check=True)
    os.rename(out + ".tmp", out)
    print(f"  {time.monotonic() - t:.0f} s", file=sys.stderr)
    return out


def pclntab_size(path):
    out = subprocess.run(["readelf", "-SW", path], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if " .gopclntab " in line:
            return int(line.split("]")[1].split()[4], 16)
    return 0


def start_tls_server(work):
    """A TLS server on 127.0.0.1 (Python's ssl) that answers each request with "ok"."""
    import socket
    import ssl
    import threading
    cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=localhost", "-days", "1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            conn, _ = listener.accept()
            try:
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(100)
                    tls.sendall(b"ok")
            except OSError:
                pass
    threading.Thread(target=serve, daemon=True).start()
    return "127.0.0.1:%d" % listener.getsockname()[1]


def first_writes_seen(events_path, pids):
    """The pids among pids with a TLS write (dir "tx") in tlstap's JSON lines."""
    import json
    seen = set()
    with open(events_path) as f:
        for line in f:
            e = json.loads(line)
            if e.get("dir") == "tx" and e.get("pid") in pids:
                seen.add(e["pid"])
    return seen


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--funcs", default="0,20000,80000",
                    help="generated functions per program, comma-separated")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--work-dir", default=None, help="where programs are built and kept")
    ap.add_argument("--tlstap-args", default="", help="extra tlstap options")
    ap.add_argument("--dial", action="store_true",
                    help="each program makes a TLS request at once: count those captured")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("exec_attach.py: run as root (tlstap loads BPF programs)")
    work = args.work_dir or os.path.join(tempfile.gettempdir(), "tlstap-exec-attach")
    os.makedirs(work, exist_ok=True)
    programs = [(int(n), build(work, int(n))) for n in args.funcs.split(",")]

    runs_dir = tempfile.mkdtemp(prefix="exec-attach-", dir=work)
    err_path = os.path.join(runs_dir, "tlstap.err")
    events_path = os.path.join(runs_dir, "events.jsonl")
    server = start_tls_server(runs_dir) if args.dial else None
    run_pids = {}  # funcs -> pids of its runs
    tlstap = subprocess.Popen(
        [os.path.join(args.build, "tlstap"), "-w", events_path if args.dial else "/dev/null"] +
        args.tlstap_args.split(),
        stdout=subprocess.DEVNULL, stderr=open(err_path, "w"))
    try:
        deadline = time.monotonic() + 60
        while "capturing" not in open(err_path).read():
            if tlstap.poll() is not None or time.monotonic() > deadline:
                sys.exit("tlstap did not start:\n" + open(err_path).read())
            time.sleep(0.1)
        results = {}
        phases = {}  # funcs -> [(noticed, inspected, attached)], with -v
        holds = {}  # funcs -> [ms held], with --hold-new -v
        for funcs, program in programs:
            for run in range(args.runs):
                copy = os.path.join(runs_dir, f"go{funcs}_{run}")
                shutil.copyfile(program, copy)
                os.chmod(copy, 0o755)
                with open(copy, "rb") as f:
                    f.read()  # in the page cache, as an installed program would be
                argv = [copy, "dial", server] if server else [copy, "wait"]
                p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
                run_pids.setdefault(funcs, []).append(p.pid)
                p.stdout.readline()
                deadline = time.monotonic() + 10
                pattern = re.compile(r"pid %d \((.*?)\) loaded .* probes were in place "
                                     r"([0-9.]+) ms later" % p.pid)
                found = None
                while found is None and time.monotonic() < deadline:
                    found = pattern.search(open(err_path).read())
                    time.sleep(0.02)
                parts = re.search(r"pid %d: noticed ([0-9.]+) ms after the exec or mmap, file "
                                  r"inspected in ([0-9.]+) ms, probes attached in ([0-9.]+) ms"
                                  % p.pid, open(err_path).read())
                held = re.search(r"pid %d \(.*?\) held for ([0-9.]+) ms" % p.pid,
                                 open(err_path).read())
                if held:
                    holds.setdefault(funcs, []).append(float(held.group(1)))
                p.stdin.close()
                p.wait()
                results.setdefault(funcs, []).append(
                    (float(found.group(2)), found.group(1)) if found else (None, ""))
                if parts:
                    phases.setdefault(funcs, []).append([float(x) for x in parts.groups()])
                os.unlink(copy)
    finally:
        tlstap.send_signal(signal.SIGINT)
        tlstap.wait(60)

    seen = first_writes_seen(events_path, {p for ps in run_pids.values() for p in ps}) \
        if server else set()
    print("exec -> probes in place (tlstap's late-attach line), %d runs each%s" %
          (args.runs, "; tlstap " + args.tlstap_args if args.tlstap_args else ""))
    print("  (first: the first copy of each program; later copies, same content, take "
          "its plan from the cache)")
    print("  %-10s %10s %10s %9s %9s %9s %9s  %s%s" %
          ("funcs", "file MB", "pclntab", "first", "median", "min", "max", "missed / names",
           "  first request captured" if server else ""))
    for funcs, program in programs:
        ms = [r[0] for r in results[funcs] if r[0] is not None]
        names = sorted({r[1] for r in results[funcs]})
        missed = sum(1 for r in results[funcs] if r[0] is None)
        size = os.path.getsize(program) / 1e6
        pcln = pclntab_size(program) / 1e6
        captured = ""
        if server:
            captured = "  %d of %d" % (sum(1 for p in run_pids[funcs] if p in seen),
                                       len(run_pids[funcs]))
        if ms:
            first = results[funcs][0][0]
            print("  %-10d %10.1f %8.1fMB %9s %7.1fms %7.1fms %7.1fms  %d / %s%s" %
                  (funcs, size, pcln, "%.1fms" % first if first is not None else "-",
                   statistics.median(ms), min(ms), max(ms), missed,
                   ",".join(names), captured))
        else:
            print("  %-10d %10.1f %8.1fMB   no attach line seen" % (funcs, size, pcln))
    def table(title, by_funcs, columns):
        """One row per program size: columns(rows) -> the numbers (ms) to print."""
        if not by_funcs:
            return
        print(title)
        for funcs, _ in programs:
            if by_funcs.get(funcs):
                print("  %-10d" % funcs +
                      "".join(" %7.1fms" % v for v in columns(by_funcs[funcs])))
    table("where the time goes (tlstap -v), medians: exec -> noticed by tlstap, "
          "file inspected, probes attached", phases,
          lambda rows: [statistics.median(col) for col in zip(*rows)])
    table("what --hold-new cost each program (tlstap -v): ms stopped at its exec, "
          "median and max", holds, lambda rows: [statistics.median(rows), max(rows)])
    shutil.rmtree(runs_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
