# Shared by the vm tier's scripts (sourced, not run): where things are
# cached, which Debian suites each kernel series comes from, exit codes, and
# one-line errors.

# The repository, whichever script sourced this file.
VM_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# Kernels, apt state and initramfs images live here; TLSTAP_VM_CACHE moves
# them (CTest points it at its own build directory).
VM_CACHE=${TLSTAP_VM_CACHE:-$VM_REPO/build/vm}
# Debian's archive; TLSTAP_VM_MIRROR points at another copy of it.
VM_MIRROR=${TLSTAP_VM_MIRROR:-http://deb.debian.org/debian}
VM_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

# Exit codes of the vm scripts, apart from the guest command's own status.
# They are distinct so that CI logs say which part failed.
readonly VM_EXIT_USAGE=2
readonly VM_EXIT_HOST_TOOL=120    # qemu, busybox, cpio, dpkg-deb or depmod missing on the host
readonly VM_EXIT_FETCH=121        # the kernel package could not be fetched or unpacked
readonly VM_EXIT_MODULES=122      # the kernel lacks a module the guest needs (9p, tls, ...)
readonly VM_EXIT_NO_STATUS=123    # the guest stopped without recording the command's status
readonly VM_EXIT_TIMEOUT=124      # the guest ran past --timeout and qemu was killed

# die CODE MESSAGE: the one line a failure prints, then exit.
die() {
  local code=$1
  shift
  echo "${VM_SCRIPT:-vm}: $*" >&2
  exit "$code"
}

# vm_sources SERIES: the apt sources a kernel series comes from, one line each.
#   6.1   bookworm's own kernel, as a patched bookworm machine runs it
#   6.12  bookworm-backports (trixie's kernel built for bookworm)
vm_sources() {
  local opts="[signed-by=$VM_KEYRING]"
  case $1 in
    6.1)
      echo "deb $opts $VM_MIRROR bookworm main"
      echo "deb $opts ${VM_MIRROR}-security bookworm-security main"
      ;;
    6.12) echo "deb $opts $VM_MIRROR bookworm-backports main" ;;
    *) return 1 ;;
  esac
}

# vm_package_pattern SERIES: an extended regex the image package's name must
# match, so that a suite moving on to another series is noticed.
vm_package_pattern() {
  case $1 in
    6.1) echo '^linux-image-6\.1\.0-[0-9]+-amd64$' ;;
    6.12) echo '^linux-image-6\.12\.[0-9]+\+[a-z0-9.+]+-amd64$' ;;
    *) return 1 ;;
  esac
}

# The cache directory of one kernel series.
vm_kernel_dir() { echo "$VM_CACHE/linux-$1"; }

# need_tools TOOL...: fail with one line naming the first host tool missing.
need_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 ||
      die "$VM_EXIT_HOST_TOOL" "$tool is missing on this host; run scripts/install-deps.sh as root"
  done
}
