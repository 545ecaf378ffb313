#!/usr/bin/env bash
# Where tlstap's cost goes, per SSL call, in one run: untraced; empty probes
# at tlstap's points (floor); tlstap attached but filtering everything out
# (the hooks alone); tlstap writing JSON to /dev/null (capture + encoding,
# no file I/O); tlstap writing JSON to a file. For the two capturing runs it
# also prints tlstap's own summary: share of bytes captured and losses.
#   sudo bench/decompose.sh [BUILD_DIR] [SIZE] [COUNT]
set -euo pipefail
build=${1:-build} size=${2:-16384} count=${3:-40000}
workload=$build/bench/ssl_workload
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

run_workload() {
  echo | "$workload" --size "$size" --count "$count" --wait-stdin | tail -n 1 |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print("%8.2f us/call" % (d["seconds"]*1e6/d["ssl_calls"]))'
}

with_tracer() {  # label ready-line command...
  local label=$1 ready=$2
  shift 2
  "$@" 2>"$out/err" &
  local pid=$!
  for _ in $(seq 300); do grep -q "$ready" "$out/err" && break; sleep 0.1; done
  printf '%-28s' "$label"
  run_workload
  kill -INT "$pid"
  wait "$pid" || true
  grep -E "^tlstap: ([0-9]+ calls|lost)" "$out/err" | sed 's/^/      /' || true
}

echo "ssl_workload --size $size --count $count"
printf '%-28s' "untraced"
run_workload
with_tracer "floor (empty probes)" "floor: attached" "$build/bench/floor_probes"
with_tracer "tlstap, everything filtered" "tlstap: capturing" "$build/tlstap" -c no-such-comm -w /dev/null
with_tracer "tlstap -w /dev/null" "tlstap: capturing" "$build/tlstap" -c ssl_workload -w /dev/null
with_tracer "tlstap -w file" "tlstap: capturing" "$build/tlstap" -c ssl_workload -w "$out/capture.jsonl"
