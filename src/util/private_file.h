// Files that hold captured secrets or traffic, every output tlstap writes
// to a path (-w FILE, -w FILE.pcapng, --keylog, tlstap keys -w): created
// 0600, never opened through a symbolic link (a link planted where tlstap,
// running as root, writes would let anyone redirect key material into a file
// of their choice), and never a file that someone else can read through: not
// another user's file or FIFO, not a file with a second name.
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

// Opens path for writing, creating it with mode 0600. What may be there
// already:
//   - a regular file of this user's with one link: kTruncate empties it,
//     kAppend keeps its content; its mode becomes 0600. One whose mode let
//     others open it (group or other bits) is replaced by a new file renamed
//     over it (its content copied when appending), so that a descriptor
//     someone opened before never sees a byte tlstap writes;
//   - a named pipe of this user's (its reader is whoever the user chose);
//   - a character device (/dev/null, /dev/full, a terminal: only root makes
//     them), left as it is.
// Refused, with one line that says why and what to do (ExitCode::kUsage):
// a symbolic link, a file or named pipe of another user (who could read what
// tlstap writes), a file with more than one name (hard links), anything else.
// Nothing is truncated or changed before these checks.
Result<UniqueFd> open_private_file(const std::string& path, OpenMode mode);

// Writes all of bytes (retrying short writes and EINTR). The error names
// what_for (a path) and the cause.
Result<void> write_all(int fd, std::string_view bytes, std::string_view what_for);

}  // namespace tlstap
