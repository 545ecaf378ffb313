// bpftool's JSON (`bpftool -j ...`): the kernel's own view of BPF programs,
// links and maps, independent of tlstap.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace tlstap::bpf_test {

inline constexpr char kBpftool[] = "/usr/sbin/bpftool";

// Runs `bpftool -j args...` and parses its output. ASSERTs.
void Bpftool(const std::vector<std::string>& args, nlohmann::json* out);

// The id of the map named name among ids (tlstap's own maps), or 0. ASSERTs.
void FindMap(const std::vector<uint32_t>& ids, const std::string& name, uint32_t* id);

// The keys of a map, as bytes. bpftool 7.1 prints each entry's "key" as hex
// byte strings ("0x2a"); with BTF it adds "formatted": {"key": 42 or
// {"tgid": ..}}. Keys come from the bytes when present, else are rebuilt
// from the formatted form (integers little-endian, struct conn_key's layout).
void DumpMapKeys(uint32_t map_id, std::vector<std::vector<uint8_t>>* keys);

// Little-endian integer at offset of a key.
uint64_t KeyU64(const std::vector<uint8_t>& key, size_t offset = 0);
uint32_t KeyU32(const std::vector<uint8_t>& key, size_t offset = 0);

}  // namespace tlstap::bpf_test
