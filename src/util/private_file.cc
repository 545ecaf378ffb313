#include "util/private_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tlstap {

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    reset();
    fd_ = other.release();
  }
  return *this;
}

int UniqueFd::release() {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

void UniqueFd::reset() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

Result<UniqueFd> open_private_file(const std::string& path, OpenMode mode) {
  int flags = O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC;
  flags |= mode == OpenMode::kAppend ? O_APPEND : O_TRUNC;
  UniqueFd fd(open(path.c_str(), flags, 0600));
  if (fd.get() < 0) {
    int err = errno;
    std::string why = err == ELOOP ? "it is a symbolic link; refusing to follow it" : strerror(err);
    return fail(ExitCode::kUsage, "cannot write " + path + ": " + why);
  }
  // A file that existed keeps its inode and its mode: tighten the mode.
  // Devices and FIFOs (/dev/null) are left as they are.
  struct stat st {};
  if (fstat(fd.get(), &st) != 0 || (S_ISREG(st.st_mode) && fchmod(fd.get(), 0600) != 0)) {
    return fail(ExitCode::kUsage, "cannot write " + path + ": " + strerror(errno));
  }
  return fd;
}

Result<void> write_all(int fd, std::string_view bytes, std::string_view what_for) {
  while (!bytes.empty()) {
    ssize_t n = write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::string why = n < 0 ? strerror(errno) : "nothing written";
      return fail(ExitCode::kFailure, "cannot write " + std::string(what_for) + ": " + why);
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

}  // namespace tlstap
