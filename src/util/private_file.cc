#include "util/private_file.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tlstap {
namespace {

std::string user_name(uid_t uid) {
  std::string name = "uid " + std::to_string(uid);
  if (passwd* pw = getpwuid(uid)) name = std::string(pw->pw_name) + " (" + name + ")";
  return name;
}

// A new file of mode 0600 renamed over path, which held `old` (open):
// descriptors of the old file, whoever holds them, never see what is written
// to the new one. When appending, the old content is copied first.
Result<UniqueFd> replace_file(const std::string& path, int old, OpenMode mode) {
  auto failed = [&path](const std::string& what) {
    return fail(ExitCode::kUsage, "cannot write " + path + ": " + what + ": " + strerror(errno));
  };
  std::string tmp = path + ".XXXXXX";  // same directory: rename() stays on one file system
  UniqueFd fd(mkostemp(tmp.data(), O_CLOEXEC));  // O_EXCL, mode 0600
  if (fd.get() < 0) return failed("cannot create a file beside it to replace it");
  if (mode == OpenMode::kAppend) {
    int in = open(("/proc/self/fd/" + std::to_string(old)).c_str(), O_RDONLY | O_CLOEXEC);
    UniqueFd reader(in);
    char buf[1 << 16];
    ssize_t n = 0;
    while (in >= 0 && (n = read(in, buf, sizeof(buf))) > 0) {
      if (!write_all(fd.get(), {buf, static_cast<size_t>(n)}, tmp)) break;
      n = 0;
    }
    if (in < 0 || n != 0) {
      int err = errno;
      unlink(tmp.c_str());
      errno = err;
      return failed("cannot copy what it holds into its replacement");
    }
    if (lseek(fd.get(), 0, SEEK_END) < 0 || fcntl(fd.get(), F_SETFL, O_APPEND) != 0) {
      unlink(tmp.c_str());
      return failed("cannot append");
    }
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    errno = err;
    return failed("cannot replace it");
  }
  return fd;
}

}  // namespace

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
  auto refuse = [&path](const std::string& why) {
    return fail(ExitCode::kUsage, "cannot write " + path + ": " + why);
  };
  // No O_TRUNC: nothing changes before the checks below.
  int flags = O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC;
  if (mode == OpenMode::kAppend) flags |= O_APPEND;
  UniqueFd fd(open(path.c_str(), flags, 0600));
  if (fd.get() < 0) {
    int err = errno;
    return refuse(err == ELOOP ? "it is a symbolic link; refusing to follow it" : strerror(err));
  }
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return refuse(strerror(errno));
  if (S_ISCHR(st.st_mode)) return fd;
  if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode)) {
    return refuse("not a regular file, a named pipe or a character device");
  }
  const char* kind = S_ISFIFO(st.st_mode) ? "named pipe" : "file";
  if (st.st_uid != geteuid()) {
    return refuse(std::string("the ") + kind + " belongs to " + user_name(st.st_uid) +
                  ", who could read what tlstap writes; remove it or choose another name");
  }
  if (S_ISFIFO(st.st_mode)) return fd;
  if (st.st_nlink != 1) {
    return refuse("the file has " + std::to_string(st.st_nlink) +
                  " names (hard links), through which others could read what tlstap writes; "
                  "remove it or choose another name");
  }
  if (st.st_mode & 077) return replace_file(path, fd.get(), mode);
  if ((mode == OpenMode::kTruncate && ftruncate(fd.get(), 0) != 0) ||
      ((st.st_mode & 07777) != 0600 && fchmod(fd.get(), 0600) != 0)) {
    return refuse(strerror(errno));
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
