#include "tests/bpf/bpftool.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "tests/bpf/subprocess.h"
#include "tests/bpf/test_env.h"

namespace tlstap::bpf_test {
namespace {

void AppendLe(uint64_t value, size_t bytes, std::vector<uint8_t>* out) {
  for (size_t i = 0; i < bytes; ++i) out->push_back(static_cast<uint8_t>(value >> (8 * i)));
}

}  // namespace

void Bpftool(const std::vector<std::string>& args, nlohmann::json* out) {
  std::vector<std::string> argv = {kBpftool, "-j"};
  argv.insert(argv.end(), args.begin(), args.end());
  RunResult r = RunToEnd(Command(argv), 60s);
  ASSERT_EQ(r.status, 0) << JoinArgv(argv) << ": " << r.err;
  *out = nlohmann::json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(out->is_discarded()) << JoinArgv(argv) << " printed no JSON: " << r.out;
}

void FindMap(const std::vector<uint32_t>& ids, const std::string& name, uint32_t* id) {
  nlohmann::json maps;
  ASSERT_NO_FATAL_FAILURE(Bpftool({"map", "show"}, &maps));
  *id = 0;
  for (const nlohmann::json& m : maps) {
    uint32_t map_id = m.value("id", 0u);
    if (m.value("name", "") == name && std::ranges::find(ids, map_id) != ids.end()) {
      *id = map_id;
    }
  }
}

void DumpMapKeys(uint32_t map_id, std::vector<std::vector<uint8_t>>* keys) {
  nlohmann::json entries;
  ASSERT_NO_FATAL_FAILURE(Bpftool({"map", "dump", "id", std::to_string(map_id)}, &entries));
  ASSERT_TRUE(entries.is_array()) << entries.dump();
  keys->clear();
  for (const nlohmann::json& entry : entries) {
    std::vector<uint8_t> key;
    if (entry.contains("key") && entry["key"].is_array()) {
      for (const nlohmann::json& byte : entry["key"]) {
        key.push_back(static_cast<uint8_t>(std::stoul(byte.get<std::string>(), nullptr, 16)));
      }
    } else if (entry.contains("formatted")) {
      const nlohmann::json& f = entry["formatted"]["key"];
      if (f.is_number()) {
        AppendLe(f.get<uint64_t>(), 8, &key);
      } else {
        ASSERT_TRUE(f.contains("tgid") && f.contains("conn")) << "unknown key: " << f.dump();
        AppendLe(f["tgid"].get<uint32_t>(), 4, &key);
        AppendLe(f.value("pad", 0u), 4, &key);
        AppendLe(f["conn"].get<uint64_t>(), 8, &key);
      }
    } else {
      FAIL() << "a map entry without a key: " << entry.dump();
    }
    keys->push_back(std::move(key));
  }
}

uint64_t KeyU64(const std::vector<uint8_t>& key, size_t offset) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && offset + i < key.size(); ++i) {
    v |= uint64_t{key[offset + i]} << (8 * i);
  }
  return v;
}

uint32_t KeyU32(const std::vector<uint8_t>& key, size_t offset) {
  return static_cast<uint32_t>(KeyU64(key, offset) & 0xffffffffu);
}

}  // namespace tlstap::bpf_test
