#include "export/output_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ext/stdio_filebuf.h>

namespace tlstap::exporting {
namespace {

class FileStream : public std::ostream {
 public:
  explicit FileStream(int fd) : std::ostream(nullptr), buf_(fd, std::ios::out, 1 << 20) {
    rdbuf(&buf_);
  }

 private:
  __gnu_cxx::stdio_filebuf<char> buf_;  // owns and closes fd
};

}  // namespace

Result<std::unique_ptr<std::ostream>> open_output_file(const std::string& path) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    int err = errno;
    std::string why = err == ELOOP ? "it is a symbolic link; refusing to follow it" : strerror(err);
    return fail(ExitCode::kUsage, "cannot write " + path + ": " + why);
  }
  // A file that existed keeps its inode: tighten its mode too. Devices and
  // FIFOs (-w /dev/null) are left as they are.
  struct stat st {};
  if (fstat(fd, &st) != 0 || (S_ISREG(st.st_mode) && fchmod(fd, 0600) != 0)) {
    int err = errno;
    close(fd);
    return fail(ExitCode::kUsage, "cannot write " + path + ": " + strerror(err));
  }
  return std::make_unique<FileStream>(fd);
}

}  // namespace tlstap::exporting
