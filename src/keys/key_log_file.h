// An SSLKEYLOGFILE that tlstap writes (`tlstap keys -w FILE`): Wireshark's
// "(Pre)-Master-Secret log filename" reads it while a capture runs.
#pragma once

#include <memory>
#include <string>

#include "keys/key_log.h"
#include "keys/key_log_set.h"
#include "util/private_file.h"

namespace tlstap::keys {

class KeyLogFile {
 public:
  // Opens path for appending (a key log is a journal: a second run adds to
  // it, as libraries do with SSLKEYLOGFILE), created 0600, never through a
  // symbolic link.
  static Result<std::unique_ptr<KeyLogFile>> open(const std::string& path);

  KeyLogFile(const KeyLogFile&) = delete;
  KeyLogFile& operator=(const KeyLogFile&) = delete;

  // Writes line unless this file already got it in this run; true when it
  // was written. Each line is one write(2), unbuffered, so a reader tailing
  // the file (Wireshark live) has the secret as soon as it is known, and a
  // crash loses nothing already accepted.
  Result<bool> write(const KeyLogLine& line);

  const std::string& path() const { return path_; }
  size_t lines_written() const { return written_.size(); }

 private:
  KeyLogFile(std::string path, UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}

  std::string path_;
  UniqueFd fd_;
  // Lines already in the file from an earlier run are not read back: a
  // duplicate across runs is harmless to readers, and reading a large file
  // at start is not.
  KeyLogSet written_;
};

}  // namespace tlstap::keys
