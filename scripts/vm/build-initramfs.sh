#!/usr/bin/env bash
# Builds the initramfs of one fetched kernel series (scripts/vm/fetch-kernel.sh):
#   scripts/vm/build-initramfs.sh 6.1|6.12
#
# It is small: Debian's static busybox, /init (scripts/vm/init) and the
# modules that /init loads before the host's root file system is reachable,
# uncompressed, in load order: the virtio PCI transport, the 9p file system
# over virtio, and tls (kTLS, what the vm tier exists to test). Everything
# else (the build tree, python3, openssl, curl, bash, the rest of the
# kernel's modules) the guest reads from the host over 9p.
#
# Result: build/vm/linux-SERIES/initramfs.cpio, rebuilt only when it is older
# than its inputs. A module missing from the kernel fails with its name
# (exit 122).
set -euo pipefail
VM_SCRIPT=build-initramfs.sh
source "$(dirname "$0")/lib.sh"

series=${1:-}
vm_sources "$series" >/dev/null 2>&1 || die "$VM_EXIT_USAGE" "usage: build-initramfs.sh 6.1|6.12"
dir=$(vm_kernel_dir "$series")
[[ -s $dir/release ]] || die "$VM_EXIT_FETCH" "linux $series is not fetched; run scripts/vm/fetch-kernel.sh $series"
release=$(<"$dir/release")
image=$dir/initramfs.cpio
init=$VM_REPO/scripts/vm/init
busybox=/bin/busybox

# The modules /init loads, each with what it depends on (modprobe says which
# and in what order). A module built into the kernel needs nothing.
wanted=(virtio_pci 9pnet_virtio 9p tls)

need_tools cpio modprobe readelf
# /init runs before any library is reachable: busybox must be the static one.
[[ -x $busybox ]] && ! LC_ALL=C readelf -l "$busybox" 2>/dev/null | grep -q 'program interpreter' ||
  die "$VM_EXIT_HOST_TOOL" "$busybox is missing or not static; install busybox-static (scripts/install-deps.sh)"

fresh=1
for input in "$init" "$busybox" "$dir/release" "$0" "$VM_REPO/scripts/vm/lib.sh"; do
  [[ -f $image && ! $input -nt $image ]] || fresh=0
done
if ((fresh)); then
  exit 0
fi

# Module files in load order, each once.
modules=()
for m in "${wanted[@]}"; do
  deps=$(modprobe -d "$dir/root" -S "$release" --show-depends "$m" 2>/dev/null) ||
    die "$VM_EXIT_MODULES" "linux $release has no module $m (needed by the vm guest's /init)"
  while read -r kind path _; do
    [[ $kind == insmod ]] || continue  # "builtin NAME": nothing to load
    [[ " ${modules[*]} " == *" $path "* ]] || modules+=("$path")
  done <<<"$deps"
done

tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
mkdir -p "$tree"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,host,modules,lib/modules/"$release"}
cp "$busybox" "$tree/bin/busybox"
# Every applet as a link (/sbin/modprobe among them: the kernel's module
# autoloader runs it in this root once /init has mounted the kernel's
# module tree on /lib/modules/RELEASE).
while read -r applet; do
  [[ -e $tree/$applet ]] || ln -s /bin/busybox "$tree/$applet"
done < <("$busybox" --list-full)
install -m 0755 "$init" "$tree/init"
for path in "${modules[@]}"; do
  cp "$path" "$tree/modules/"
  echo "${path##*/}" >>"$tree/modules/load.list"
done

(cd "$tree" && find . -print0 | cpio --null -o -H newc -R 0:0 --quiet) >"$image.new"
mv "$image.new" "$image"
echo "build-initramfs.sh: linux $series: $image ($(du -h "$image" | cut -f1); modules: $(paste -sd' ' "$tree/modules/load.list"))"
