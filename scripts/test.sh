#!/usr/bin/env bash
# One command on a fresh machine: install, build, and run every test tier.
# Run as root: the bpf tier loads BPF programs into this kernel.
#
#   scripts/test.sh [CTEST ARGS...]     e.g. scripts/test.sh -R Curl
#
# Tiers, in order, each one ctest run (CTest labels): unit and fuzz (two at
# a time: neither needs the kernel), bpf (one at a time: each test loads
# tlstap into this kernel), vm (qemu guests on other kernels, one at a time).
# The last lines give each tier's count and time, the capture path x kernel
# matrix, and one closing line "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $EUID -ne 0 ]]; then
  echo "test.sh: the bpf tier needs root; run: sudo scripts/test.sh" >&2
  exit 1
fi
start=$SECONDS
bash scripts/build.sh
bash scripts/check-format.sh
build_seconds=$((SECONDS - start))
# The vm tier's guests leave per-binary results under build/vm/results/;
# clearing it first makes the matrix printed below this run's alone.
results=$PWD/build/vm/results
rm -rf "$results"
mkdir -p "$results"
status=0
tiers=()
# tier NAME CTEST-ARGS...: one tier's tests, its JUnit file, its time.
tier() {
  local name=$1 tier_start=$SECONDS
  shift
  ctest --test-dir build --output-on-failure --timeout 600 --no-tests=ignore \
    --output-junit "$results/$name-junit.xml" "$@" || status=1
  tiers+=("$name $((SECONDS - tier_start))")
}
tier unit -L '^unit$' -j2 "$@"
tier fuzz -L '^fuzz$' -j2 "$@"
tier bpf -L '^bpf$' "$@"
tier vm -L '^vm$' "$@"
# Capture path x kernel: this host's bpf tier and each vm guest that ran.
python3 scripts/vm/matrix.py "$results" --host-junit "$results/bpf-junit.xml" \
  --build build || true
every_tier=()
(($#)) || every_tier=(--every-tier)  # the full run: each tier must run tests
python3 scripts/tier_summary.py "${every_tier[@]}" "$results" "$build_seconds" "${tiers[@]}" ||
  status=1
exit "$status"
