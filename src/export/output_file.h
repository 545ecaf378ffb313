// Files tlstap writes captures into: created 0600, never through a symlink.
#pragma once

#include <memory>
#include <ostream>
#include <string>

#include "util/error.h"

namespace tlstap::exporting {

// An ostream over a file opened with O_NOFOLLOW and mode 0600 (an existing
// file is truncated and its mode tightened to 0600).
Result<std::unique_ptr<std::ostream>> open_output_file(const std::string& path);

}  // namespace tlstap::exporting
