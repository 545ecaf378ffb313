#include "loader/preflight.h"

#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <filesystem>

namespace tlstap::loader {
namespace {

bool has_cap(const __user_cap_data_struct (&data)[2], int cap) {
  return data[cap / 32].effective & (1u << (cap % 32));
}

}  // namespace

Result<void> check_privileges() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0) {
    return fail(ExitCode::kPermission, "cannot read this process's capabilities; run as root");
  }
  constexpr int kCapBpf = 39, kCapPerfmon = 38;
  bool bpf = has_cap(data, CAP_SYS_ADMIN) || (has_cap(data, kCapBpf) && has_cap(data, kCapPerfmon));
  // Reading other processes' maps and files through /proc/PID/root.
  bool proc = has_cap(data, CAP_SYS_PTRACE) && has_cap(data, CAP_DAC_READ_SEARCH);
  if (!bpf || !proc) {
    return fail(ExitCode::kPermission,
                "needs root: run with sudo (or grant CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE and "
                "CAP_DAC_READ_SEARCH)");
  }
  return {};
}

Result<void> check_kernel(const std::string& sysfs_root) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path root(sysfs_root);
  if (!fs::exists(root / "sys/kernel/btf/vmlinux", ec)) {
    return fail(ExitCode::kNoBtf,
                "this kernel has no BTF (/sys/kernel/btf/vmlinux is missing); tlstap needs a "
                "kernel built with CONFIG_DEBUG_INFO_BTF=y (Debian, Ubuntu, Fedora and RHEL "
                "kernels have it)");
  }
  if (!fs::exists(root / "sys/bus/event_source/devices/uprobe/type", ec)) {
    return fail(ExitCode::kNoUprobes,
                "this kernel has no uprobe support (/sys/bus/event_source/devices/uprobe is "
                "missing); tlstap needs CONFIG_UPROBE_EVENTS=y");
  }
  return {};
}

}  // namespace tlstap::loader
