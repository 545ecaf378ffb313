// Machine code read with Capstone: the direct call targets of a wrapper (to
// find functions a library does not export but its exported wrappers call,
// such as OpenSSL's ssl_write_internal, the path BIO_f_ssl takes), and the
// return instructions of a function (Go functions are probed at each of
// them: a uretprobe would rewrite a return address on a stack Go may move).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace tlstap::discovery {

// Targets of the direct calls in `code` (loaded at `vaddr`), in order.
// machine is the ELF e_machine; x86-64 and AArch64 are understood, anything
// else yields nothing.
std::vector<uint64_t> direct_call_targets(std::span<const uint8_t> code, uint64_t vaddr,
                                          uint16_t machine);

// The addresses of the RIP-relative memory operands in `code` (loaded at
// `vaddr`): the globals a function reads and writes. x86-64 only; empty
// for other machines.
std::vector<uint64_t> rip_relative_operands(std::span<const uint8_t> code, uint64_t vaddr,
                                            uint16_t machine);

// Addresses of the return instructions in `code`, a whole function loaded at
// `vaddr`, decoded from its start to its end. std::nullopt when some bytes
// do not decode (or the machine is not one of the above): a return could
// hide there, so the caller must not trust a partial list.
std::optional<std::vector<uint64_t>> return_addresses(std::span<const uint8_t> code, uint64_t vaddr,
                                                      uint16_t machine);

}  // namespace tlstap::discovery
