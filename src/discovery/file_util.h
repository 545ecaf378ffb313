// Small file helpers shared by the discovery code. Internal to src/discovery.
#pragma once

#include <string>

namespace tlstap::discovery::internal {

// Reads a whole file, including /proc files whose stat() size is 0. Returns
// false (and leaves errno set) if the file cannot be opened or read.
bool read_file_to_string(const std::string& path, std::string* out);

}  // namespace tlstap::discovery::internal
