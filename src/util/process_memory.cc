#include "util/process_memory.h"

#include <sys/uio.h>

#include <cerrno>
#include <cstring>

namespace tlstap {

Result<std::string> read_process_memory(pid_t pid, uint64_t addr, size_t len) {
  std::string out(len, '\0');
  iovec local{out.data(), len};
  iovec remote{reinterpret_cast<void*>(addr), len};
  ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
  if (n == static_cast<ssize_t>(len)) return out;
  const int err = n < 0 ? errno : EFAULT;
  return fail(ExitCode::kFailure, "cannot read " + std::to_string(len) + " bytes of pid " +
                                      std::to_string(pid) + ": " + std::strerror(err));
}

}  // namespace tlstap
