// Files that hold captured secrets or traffic: created 0600, never opened
// through a symbolic link (a link planted where tlstap, running as root,
// writes would let anyone redirect key material into a file of their choice).
#pragma once

#include <string>
#include <string_view>

#include "util/error.h"

namespace tlstap {

// Owns a file descriptor; closes it once.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  int release();
  void reset();

 private:
  int fd_ = -1;
};

enum class OpenMode {
  kTruncate,  // start the file empty
  kAppend,    // keep what it holds; every write lands at its end
};

// Opens path for writing with O_NOFOLLOW, creating it with mode 0600; an
// existing regular file has its mode tightened to 0600. A symbolic link is
// refused with one line that says so.
Result<UniqueFd> open_private_file(const std::string& path, OpenMode mode);

// Writes all of bytes (retrying short writes and EINTR). The error names
// what_for (a path) and the cause.
Result<void> write_all(int fd, std::string_view bytes, std::string_view what_for);

}  // namespace tlstap
