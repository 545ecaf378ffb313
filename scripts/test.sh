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
ctest --test-dir build --output-on-failure --timeout 600 "$@"
