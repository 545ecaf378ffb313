// Checks, before anything is loaded, that this process and this kernel can
// do what tlstap needs. Each failure is one line and a distinct exit code.
#pragma once

#include <string>

#include "util/error.h"

namespace tlstap::loader {

// sysfs_root is "/" except in tests, which point it at a fake tree.
Result<void> check_privileges();
Result<void> check_kernel(const std::string& sysfs_root = "/");

}  // namespace tlstap::loader
