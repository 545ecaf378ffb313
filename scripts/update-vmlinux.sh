#!/usr/bin/env bash
# Refreshes the vendored vmlinux.h of this machine's architecture from its
# kernel's BTF (bpf/vmlinux/ARCH/vmlinux.h; the build copies it). Needed
# only when a program reads a kernel type or field the vendored one lacks.
set -euo pipefail
cd "$(dirname "$0")/.."
case "$(uname -m)" in
  x86_64) arch=x86 ;;
  aarch64) arch=arm64 ;;
  *) echo "update-vmlinux: no BPF arch for $(uname -m)" >&2; exit 1 ;;
esac
mkdir -p "bpf/vmlinux/$arch"
bpftool btf dump file /sys/kernel/btf/vmlinux format c > "bpf/vmlinux/$arch/vmlinux.h"
echo "update-vmlinux: bpf/vmlinux/$arch/vmlinux.h from $(uname -r)"
