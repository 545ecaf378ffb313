#!/usr/bin/env bash
# Runs one command inside a qemu guest on a Debian kernel, under software
# emulation (TCG: no KVM here), and exits with the command's status:
#
#   scripts/vm/run.sh --kernel 6.1|6.12 [--timeout SECONDS] [--results DIR] -- COMMAND...
#
#   --kernel   the kernel series (scripts/vm/lib.sh says where each comes from)
#   --timeout  seconds before qemu is killed (default 1800)
#   --results  the run's share, writable by the guest (default: a new
#              directory under build/vm/runs/); it must be empty or an
#              earlier share, which is emptied
#
# The guest sees this host's root file system read-only at the same paths
# (so COMMAND may be anything installed or built here), fresh tmpfs on /tmp,
# /var/tmp, /run and /root, and the share at /run/tlstap-vm (also in
# $TLSTAP_VM_SHARE). COMMAND starts in the current directory with a clean
# environment plus TLSTAP_* and GTEST_* variables from this one, and
# TLSTAP_VM_KERNEL (the series). The guest console streams here and into
# DIR/console.log. Note that the host's /tmp is not visible in the guest.
#
# What is missing is built first: the kernel is fetched once
# (scripts/vm/fetch-kernel.sh), the initramfs rebuilt when its inputs change
# (scripts/vm/build-initramfs.sh). Apart from COMMAND's own status, exits
# with 2 (usage), 120 (a host tool missing), 121 (kernel fetch failed), 122
# (a module missing from the kernel), 123 (the guest stopped without a status:
# panic, qemu error), 124 (timeout); each says why in one line.
set -euo pipefail
VM_SCRIPT=run.sh
source "$(dirname "$0")/lib.sh"

usage="usage: run.sh --kernel 6.1|6.12 [--timeout SECONDS] [--results DIR] -- COMMAND..."
series= timeout=1800 results=
while (($#)); do
  case $1 in
    --kernel) series=${2:-}; shift 2 || die "$VM_EXIT_USAGE" "$usage" ;;
    --timeout) timeout=${2:-}; shift 2 || die "$VM_EXIT_USAGE" "$usage" ;;
    --results) results=${2:-}; shift 2 || die "$VM_EXIT_USAGE" "$usage" ;;
    --) shift; break ;;
    *) die "$VM_EXIT_USAGE" "$usage" ;;
  esac
done
(($#)) || die "$VM_EXIT_USAGE" "$usage"
vm_sources "$series" >/dev/null 2>&1 || die "$VM_EXIT_USAGE" "--kernel must be 6.1 or 6.12; $usage"
[[ $timeout =~ ^[1-9][0-9]*$ ]] || die "$VM_EXIT_USAGE" "--timeout takes whole seconds; $usage"

need_tools qemu-system-x86_64 timeout
bash "$VM_REPO/scripts/vm/fetch-kernel.sh" "$series" >&2
bash "$VM_REPO/scripts/vm/build-initramfs.sh" "$series" >&2
dir=$(vm_kernel_dir "$series")
release=$(<"$dir/release")

# The share: an empty directory, or one this script made before (marked).
if [[ -z $results ]]; then
  mkdir -p "$VM_CACHE/runs"
  results=$(mktemp -d "$VM_CACHE/runs/linux-$series.XXXXXX")
fi
mkdir -p "$results"
results=$(cd "$results" && pwd)
if [[ -n $(ls -A "$results") ]]; then
  [[ -f $results/.tlstap-vm-share ]] ||
    die "$VM_EXIT_USAGE" "--results $results is not empty and not an earlier share; not touching it"
  find "$results" -mindepth 1 -delete
fi
touch "$results/.tlstap-vm-share"
echo "$dir/root" >"$results/kernel-root"
echo "$VM_REPO" >"$results/repo-root"

# command.sh: what the guest runs, in bash, from the host's file system.
{
  echo "# Written by scripts/vm/run.sh; run by the guest's /init."
  printf 'cd -- %q || { echo "run.sh: %s is not visible in the guest" >&2; exit 125; }\n' "$PWD" "$PWD"
  printf 'export TLSTAP_VM_KERNEL=%q\n' "$series"
  while IFS='=' read -r name _; do
    printf 'export %s=%q\n' "$name" "${!name}"
  done < <(env | grep -E '^(TLSTAP|GTEST)_[A-Za-z0-9_]*=' | grep -v '^TLSTAP_VM_KERNEL=')
  printf 'exec'
  printf ' %q' "$@"
  printf '\n'
} >"$results/command.sh"

qemu=(
  qemu-system-x86_64 -accel tcg
  # Every CPU feature TCG emulates (AES-NI, AVX2, ...): the TLS libraries
  # take their usual code paths.
  -cpu max -smp "${TLSTAP_VM_CPUS:-2}" -m "${TLSTAP_VM_MEMORY:-4G}"
  -nographic -no-reboot -nic none
  -kernel "$dir/root/boot/vmlinuz-$release" -initrd "$dir/initramfs.cpio"
  # tsc=reliable: TCG's TSC follows the host clock; without it the kernel may
  # fall back to an emulated HPET and every clock_gettime becomes an exit.
  -append "console=ttyS0 quiet panic=-1 mitigations=off tsc=reliable"
  # The host's root, read-only; multidevs=remap keeps inode numbers of
  # different host file systems apart.
  -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
  -virtfs "local,path=$results,mount_tag=share,security_model=none,multidevs=remap"
  # This checkout again, mounted at its own path: a clone under /tmp (as CI's
  # may be) would be hidden by the guest's fresh /tmp otherwise.
  -virtfs "local,path=$VM_REPO,mount_tag=repo,security_model=none,readonly=on,multidevs=remap"
)

echo "run.sh: linux $release (series $series) under qemu TCG; share $results" >&2
start=$SECONDS
set +e
# -k: a qemu that ignores SIGTERM is killed 10 s later.
timeout -k 10 "$timeout" "${qemu[@]}" </dev/null 2>&1 | tee "$results/console.log"
qemu_status=${PIPESTATUS[0]}
set -e
elapsed=$((SECONDS - start))

if ((qemu_status == 124 || qemu_status == 137)); then
  die "$VM_EXIT_TIMEOUT" "linux $series: the guest ran past --timeout $timeout s; qemu killed (console: $results/console.log)"
fi
if [[ ! -s $results/exit-status ]]; then
  die "$VM_EXIT_NO_STATUS" "linux $series: the guest stopped after $elapsed s without recording the command's exit status (qemu exit $qemu_status; see the console above)"
fi
status=$(<"$results/exit-status")
echo "run.sh: linux $series: the command exited with status $status; guest ran $elapsed s" >&2
exit "$status"
