// Direct call targets in machine code, decoded with Capstone. Used to find
// functions a library does not export but its exported wrappers call, such
// as OpenSSL's ssl_write_internal (the path BIO_f_ssl takes).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace tlstap::discovery {

// Targets of the direct calls in `code` (loaded at `vaddr`), in order.
// machine is the ELF e_machine; x86-64 and AArch64 are understood, anything
// else yields nothing.
std::vector<uint64_t> direct_call_targets(std::span<const uint8_t> code, uint64_t vaddr,
                                          uint16_t machine);

}  // namespace tlstap::discovery
