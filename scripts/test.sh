#!/usr/bin/env bash
# One command on a fresh machine: install, build, and run every test tier.
# Run as root: the bpf tier loads BPF programs into this kernel.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $EUID -ne 0 ]]; then
  echo "test.sh: the bpf tier needs root; run: sudo scripts/test.sh" >&2
  exit 1
fi
bash scripts/build.sh
bash scripts/check-format.sh
# The vm tier's guests leave per-binary results under build/vm/results/;
# clearing it first makes the matrix printed below this run's alone.
rm -rf build/vm/results
mkdir -p build/vm/results
status=0
ctest --test-dir build --output-on-failure --timeout 600 \
  --output-junit "$PWD/build/vm/results/host-junit.xml" "$@" || status=$?
# Capture path x kernel: this host's bpf tier and each vm guest that ran.
python3 scripts/vm/matrix.py build/vm/results --host-junit build/vm/results/host-junit.xml \
  --build build || true
exit "$status"
