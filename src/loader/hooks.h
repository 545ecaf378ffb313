// Which BPF program goes where: from a TLS library discovery found to the
// uprobes that capture it. tlstap and the benchmark's empty-probe floor
// (bench/floor_probes) both attach exactly these points.
#pragma once

#include <cstdint>
#include <vector>

#include "discovery/targets.h"

namespace tlstap::loader {

// One function to hook in a library file: the BPF program run at its entry
// and the one run at its return (names as in bpf/); either may be nullptr.
// For Go's return points, entry is the program run at that instruction.
struct UprobeHook {
  const char* entry;
  const char* exit;
  uint64_t offset;  // in the file
};

// The hooks for every probe point of the target.
std::vector<UprobeHook> hooks_for(const discovery::Target& t);

// The hooks that only read TLS secrets, attached when keys are requested:
// Go's (*Config).writeKeyLog; BoringSSL's SSL_do_handshake (its TLS 1.3
// handshake secrets are gone by its first data call). Empty for other kinds
// (OpenSSL's and GnuTLS's secrets are read by their data probes) and for a
// file without the function.
std::vector<UprobeHook> key_hooks_for(const discovery::Target& t);

// The enum tlstap_lib value a target's events carry (the attach cookie).
uint8_t lib_code(discovery::LibKind kind);

}  // namespace tlstap::loader
