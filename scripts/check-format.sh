#!/usr/bin/env bash
# Fails when a C++ file differs from .clang-format (Google-based, 100 columns).
# BPF C under bpf/ follows kernel style and is not checked here.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.cc' '*.h' | grep -v '^bpf/')
clang-format --dry-run --Werror "${files[@]}"
echo "check-format: ${#files[@]} files formatted"
