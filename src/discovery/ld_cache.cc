// ReadLdCache: glibc's /etc/ld.so.cache (see glibc sysdeps/generic/dl-cache.h).
//
// Layout: an optional old-format part ("ld.so-1.7.0", u32 nlibs, nlibs 12-byte
// entries), padded to 8 bytes, then the new format: a 48-byte header
// ("glibc-ld.so.cache" "1.1", u32 nlibs, u32 len_strings, u8 flags, 3 bytes
// padding, u32 extension_offset, u32 unused[3]), nlibs 24-byte entries (i32
// flags, u32 key, u32 value, u32 osversion, u64 hwcap), and strings. Key and
// value are offsets from the start of the new-format header.
#include <bit>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <unordered_set>

#include "discovery/file_util.h"
#include "discovery/targets.h"

namespace tlstap::discovery {
namespace {

constexpr std::string_view kOldMagic = "ld.so-1.7.0";
constexpr size_t kOldNlibsOffset = 12;  // after magic[11] and 1 byte of padding
constexpr size_t kOldHeaderSize = 16;
constexpr size_t kOldEntrySize = 12;
constexpr std::string_view kNewMagic = "glibc-ld.so.cache";
constexpr std::string_view kNewVersion = "1.1";
constexpr size_t kNewHeaderSize = 48;
constexpr size_t kNewEntrySize = 24;
constexpr size_t kNlibsOffset = 20;
constexpr size_t kFlagsOffset = 28;
constexpr size_t kValueOffset = 8;  // within an entry

// Header flags, bits 0-1: which byte order wrote the file (glibc 2.33+).
constexpr uint8_t kEndianMask = 3;
constexpr uint8_t kEndianInvalid = 1;
constexpr uint8_t kEndianLittle = 2;
constexpr uint8_t kEndianBig = 3;

uint32_t read_u32(std::string_view data, size_t at) {
  uint32_t value;
  std::memcpy(&value, data.data() + at, sizeof(value));
  return value;
}

}  // namespace

std::vector<std::string> read_ld_cache(const std::string& path) {
  std::string contents;
  if (!internal::read_file_to_string(path, &contents)) return {};
  std::string_view data = contents;

  // All sizes are computed in 64 bits, so a hostile nlibs cannot wrap around.
  uint64_t base = 0;
  if (data.starts_with(kOldMagic)) {
    if (data.size() < kOldHeaderSize) return {};
    uint64_t old_nlibs = read_u32(data, kOldNlibsOffset);
    base = (kOldHeaderSize + old_nlibs * kOldEntrySize + 7) & ~uint64_t{7};
  }
  if (base + kNewHeaderSize > data.size()) return {};
  std::string_view cache = data.substr(base);
  if (!cache.starts_with(kNewMagic) ||
      cache.substr(kNewMagic.size(), kNewVersion.size()) != kNewVersion) {
    return {};
  }
  uint8_t endian = static_cast<uint8_t>(cache[kFlagsOffset]) & kEndianMask;
  if (endian == kEndianInvalid ||
      (endian == kEndianLittle && std::endian::native != std::endian::little) ||
      (endian == kEndianBig && std::endian::native != std::endian::big)) {
    return {};
  }
  uint64_t nlibs = read_u32(cache, kNlibsOffset);
  if (kNewHeaderSize + nlibs * kNewEntrySize > cache.size()) return {};

  std::vector<std::string> paths;
  std::unordered_set<std::string_view> seen;
  for (uint64_t i = 0; i < nlibs; ++i) {
    uint32_t value = read_u32(cache, kNewHeaderSize + i * kNewEntrySize + kValueOffset);
    if (value >= cache.size()) return {};
    size_t end = cache.find('\0', value);
    if (end == std::string_view::npos) return {};
    std::string_view library = cache.substr(value, end - value);
    if (library.empty()) return {};
    if (seen.insert(library).second) paths.emplace_back(library);
  }
  return paths;
}

}  // namespace tlstap::discovery
