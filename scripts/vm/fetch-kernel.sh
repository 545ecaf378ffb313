#!/usr/bin/env bash
# Fetches one Debian kernel series into the vm tier's cache and prepares it
# for a guest:
#   scripts/vm/fetch-kernel.sh 6.1|6.12
#
# The newest linux-image-*-amd64 that Debian's linux-image-amd64 points at in
# the series' suites (scripts/vm/lib.sh) is downloaded with `apt-get download`
# through a private apt configuration under the cache (its own sources list,
# lists and package cache: /etc/apt is never read for sources nor changed),
# unpacked with dpkg-deb, its modules decompressed (busybox's insmod and
# modprobe read plain .ko files only) and indexed with depmod.
#
# Result: build/vm/linux-SERIES/ (TLSTAP_VM_CACHE moves build/vm) with
#   root/boot/vmlinuz-RELEASE, root/lib/modules/RELEASE/   the unpacked package
#   release                                                RELEASE; written last,
#                                                          so it marks a finished fetch
#   fetch.log                                              apt's and depmod's output
# A second run finds `release` and downloads nothing.
set -euo pipefail
VM_SCRIPT=fetch-kernel.sh
source "$(dirname "$0")/lib.sh"

series=${1:-}
vm_sources "$series" >/dev/null 2>&1 || die "$VM_EXIT_USAGE" "usage: fetch-kernel.sh 6.1|6.12"
dir=$(vm_kernel_dir "$series")

if [[ -s $dir/release && -f $dir/root/boot/vmlinuz-$(<"$dir/release") ]]; then
  echo "fetch-kernel.sh: linux $series is cached: $(<"$dir/release") in $dir"
  exit 0
fi

need_tools apt-get apt-cache dpkg-deb depmod xz zstd gzip
[[ -r $VM_KEYRING ]] ||
  die "$VM_EXIT_HOST_TOOL" "$VM_KEYRING is missing; install debian-archive-keyring"

# The private apt configuration: every path apt would take from /etc/apt or
# /var/lib/apt points under $dir/apt instead. An empty dpkg status makes the
# choice independent of what this host has installed.
apt=$dir/apt
mkdir -p "$apt"/{lists/partial,cache/archives/partial,sources.list.d,preferences.d} "$dir/deb"
vm_sources "$series" >"$apt/sources.list"
: >"$apt/status"
apt_opts=(
  -o "Dir::Etc::SourceList=$apt/sources.list"
  -o "Dir::Etc::SourceParts=$apt/sources.list.d"
  -o "Dir::Etc::Preferences=$apt/preferences"
  -o "Dir::Etc::PreferencesParts=$apt/preferences.d"
  -o "Dir::State::Lists=$apt/lists"
  -o "Dir::State::status=$apt/status"
  -o "Dir::Cache=$apt/cache"
  # Downloads go into directories root owns; apt's _apt user could not write there.
  -o "APT::Sandbox::User=root"
)
log=$dir/fetch.log
: >"$log"
fail() { die "$VM_EXIT_FETCH" "cannot fetch linux $series: $1 (output in $log)"; }

echo "fetch-kernel.sh: linux $series: reading $(awk '{print $3, $4}' "$apt/sources.list" | paste -sd' ')"
# --error-on=any: an index that cannot be fetched is an error, not a warning.
apt-get "${apt_opts[@]}" -q update --error-on=any >>"$log" 2>&1 ||
  fail "apt-get update failed: $(grep -m1 -E '^(E|W|Err):' "$log" || tail -n1 "$log")"

# linux-image-amd64 depends on exactly one image package: the current one.
pkg=$(apt-cache "${apt_opts[@]}" depends linux-image-amd64 2>>"$log" |
  awk '$1 == "Depends:" && $2 ~ /^linux-image-/ {print $2; exit}') || true
[[ -n $pkg ]] || fail "linux-image-amd64 names no image package"
[[ $pkg =~ $(vm_package_pattern "$series") ]] ||
  fail "linux-image-amd64 now points at $pkg, not a $series kernel; update scripts/vm/lib.sh"

echo "fetch-kernel.sh: linux $series: downloading $pkg"
rm -f "$dir"/deb/*.deb
(cd "$dir/deb" && apt-get "${apt_opts[@]}" -q download "$pkg") >>"$log" 2>&1 ||
  fail "apt-get download $pkg failed: $(tail -n1 "$log")"

# Unpack next to the old tree and swap at the end, so that an interrupted
# run leaves no half-prepared kernel behind.
rm -rf "$dir/root.new" "$dir/root" "$dir/release"
dpkg-deb -x "$dir"/deb/*.deb "$dir/root.new" 2>>"$log" || fail "dpkg-deb -x failed"
release=
for mods in "$dir"/root.new/lib/modules/* "$dir"/root.new/usr/lib/modules/*; do
  [[ -d $mods ]] && release=${mods##*/} && break
done
[[ -n $release && -f $dir/root.new/boot/vmlinuz-$release ]] ||
  fail "$pkg holds no boot/vmlinuz-* with a matching lib/modules/*"
# Some packages ship usr/lib/modules; depmod -b and the guest look in lib/modules.
if [[ ! -e $dir/root.new/lib/modules ]]; then
  mkdir -p "$dir/root.new/lib"
  ln -s ../usr/lib/modules "$dir/root.new/lib/modules"
fi

echo "fetch-kernel.sh: linux $series: decompressing modules, depmod $release"
find "$dir/root.new" -name '*.ko.xz' -print0 | xargs -0 -r -n 256 -P "$(nproc)" xz -d
find "$dir/root.new" -name '*.ko.zst' -print0 | xargs -0 -r -n 256 -P "$(nproc)" zstd -d -q --rm
find "$dir/root.new" -name '*.ko.gz' -print0 | xargs -0 -r -n 256 -P "$(nproc)" gzip -d
depmod -b "$dir/root.new" "$release" >>"$log" 2>&1 || fail "depmod failed: $(tail -n1 "$log")"

mv "$dir/root.new" "$dir/root"
echo "$release" >"$dir/release"
echo "fetch-kernel.sh: linux $series: $release ready in $dir"
