#include "keys/key_log_file.h"

namespace tlstap::keys {

Result<std::unique_ptr<KeyLogFile>> KeyLogFile::open(const std::string& path) {
  Result<UniqueFd> fd = open_private_file(path, OpenMode::kAppend);
  if (!fd) return std::unexpected(fd.error());
  return std::unique_ptr<KeyLogFile>(new KeyLogFile(path, std::move(*fd)));
}

Result<bool> KeyLogFile::write(const KeyLogLine& line) {
  if (written_.contains(line)) return false;
  Result<void> done = write_all(fd_.get(), format_key_log_line(line), path_);
  if (!done) return std::unexpected(done.error());
  written_.insert(line);
  return true;
}

}  // namespace tlstap::keys
