// Reading another process's memory, for what a probe could not read there:
// a page the process has not touched yet is not readable from a probe
// (it runs where faults are not served), but process_vm_readv(2) faults it
// in as the process itself would.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "util/error.h"

namespace tlstap {

// len bytes of process pid at addr, or why not (the process is gone, the
// address is not mapped). All of them or none.
Result<std::string> read_process_memory(pid_t pid, uint64_t addr, size_t len);

}  // namespace tlstap
