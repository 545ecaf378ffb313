#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time: run_fuzzer.sh FUZZER SEEDS WORK SECONDS.
# New inputs it finds go to WORK (in the build tree), never into the seeds;
# a crash leaves its input in WORK and fails the test.
set -euo pipefail
fuzzer=$1 seeds=$2 work=$3 seconds=$4
if [[ ! -x $fuzzer ]]; then
  echo "run_fuzzer: $fuzzer was not built (the fuzzers target builds it with clang++)" >&2
  exit 1
fi
mkdir -p "$work"
fuzzer=$(realpath "$fuzzer") seeds=$(realpath "$seeds") work=$(realpath "$work")
cd "$work"  # libFuzzer writes crash-* and its logs here
exec "$fuzzer" -max_total_time="$seconds" -rss_limit_mb=512 -timeout=10 -print_final_stats=1 \
  -artifact_prefix="$work/" "$work" "$seeds"
