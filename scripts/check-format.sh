#!/usr/bin/env bash
# Fails when a C++ file differs from .clang-format (Google-based, 100
# columns), or a BPF C file under bpf/ from bpf/.clang-format (the kernel's
# style). The vendored vmlinux.h is not ours.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.cc' '*.h' 'bpf/*.c' | grep -v '^bpf/vmlinux/')
clang-format --dry-run --Werror "${files[@]}"
echo "check-format: ${#files[@]} files formatted"
