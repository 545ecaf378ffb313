#include "discovery/go_binary.h"

#include <cstring>
#include <span>
#include <string_view>
#include <vector>

namespace tlstap::discovery::internal {
namespace {

// .go.buildinfo starts with this, then the pointer size and a flags byte.
constexpr std::string_view kBuildInfoMagic = "\xff Go buildinf:";
constexpr size_t kBuildInfoHeader = 32;
constexpr uint8_t kBuildInfoInlineStrings = 0x2;  // Go 1.18+: version inline

// .gopclntab's first word for Go 1.18-1.19 and for 1.20 onwards; both share
// the header and function table layout read here.
constexpr uint32_t kPclnTab118 = 0xfffffff0;
constexpr uint32_t kPclnTab120 = 0xfffffff1;

// Bounds-checked little-endian reads from a section's bytes.
class Bytes {
 public:
  explicit Bytes(std::span<const uint8_t> data) : data_(data) {}
  std::optional<uint64_t> uint(uint64_t at, size_t width) const {
    if (at > data_.size() || data_.size() - at < width) return std::nullopt;
    uint64_t v = 0;
    for (size_t i = 0; i < width; ++i) v |= static_cast<uint64_t>(data_[at + i]) << (8 * i);
    return v;
  }
  // The NUL-terminated string at `at`.
  std::optional<std::string_view> cstr(uint64_t at) const {
    if (at >= data_.size()) return std::nullopt;
    const char* begin = reinterpret_cast<const char*>(data_.data() + at);
    const void* end = std::memchr(begin, 0, data_.size() - at);
    if (end == nullptr) return std::nullopt;
    return std::string_view(begin, static_cast<const char*>(end) - begin);
  }
  // An unsigned LEB128 varint at *at, which it moves past.
  std::optional<uint64_t> varint(uint64_t* at) const {
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && *at < data_.size(); shift += 7) {
      uint8_t b = data_[(*at)++];
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    return std::nullopt;
  }

 private:
  std::span<const uint8_t> data_;
};

std::vector<uint8_t> section_bytes(const ElfFile& elf, const ElfFile::Section& s) {
  return elf.read(s.file_offset, s.size);
}

}  // namespace

std::optional<std::string> go_version(const ElfFile& elf) {
  std::optional<ElfFile::Section> info = elf.section(".go.buildinfo");
  if (!info) return std::nullopt;
  std::vector<uint8_t> data = section_bytes(elf, *info);
  Bytes bytes(data);
  if (data.size() < kBuildInfoHeader ||
      std::memcmp(data.data(), kBuildInfoMagic.data(), kBuildInfoMagic.size()) != 0) {
    return std::nullopt;
  }
  if (!(data[kBuildInfoMagic.size() + 1] & kBuildInfoInlineStrings)) {
    return "before 1.18";  // the version sits behind pointers into the data segment
  }
  uint64_t at = kBuildInfoHeader;
  std::optional<uint64_t> len = bytes.varint(&at);
  if (!len || at + *len > data.size()) return std::nullopt;
  std::string version(reinterpret_cast<const char*>(data.data() + at), *len);
  if (version.starts_with("go")) version.erase(0, 2);
  return version;
}

Result<std::map<std::string, FunctionRange>> go_functions(
    const ElfFile& elf, const std::set<std::string, std::less<>>& names) {
  // PIE programs keep the table in a relocatable-data section of that name.
  std::optional<ElfFile::Section> pcln = elf.section(".gopclntab");
  if (!pcln) pcln = elf.section(".data.rel.ro.gopclntab");
  if (!pcln) return fail(ExitCode::kFailure, "no .gopclntab section (section headers stripped?)");
  std::vector<uint8_t> data = section_bytes(elf, *pcln);
  Bytes tab(data);
  // Header: magic u32, two pad bytes, min instruction size, pointer size,
  // then pointer-sized nfunc, nfiles, textStart, funcnameOffset, cuOffset,
  // filetabOffset, pctabOffset, pclnOffset.
  std::optional<uint64_t> magic = tab.uint(0, 4);
  if (!magic || (*magic != kPclnTab118 && *magic != kPclnTab120)) {
    return fail(ExitCode::kFailure,
                "its .gopclntab is in a layout tlstap does not read (Go before 1.18)");
  }
  const size_t ptr = data[7];
  if (ptr != 4 && ptr != 8) return fail(ExitCode::kFailure, "bad .gopclntab pointer size");
  auto word = [&](int index) { return tab.uint(8 + index * ptr, ptr); };
  std::optional<uint64_t> nfunc = word(0), text_start = word(2), funcnames = word(3),
                          functab = word(7);
  if (!nfunc || !text_start || !funcnames || !functab) {
    return fail(ExitCode::kFailure, "truncated .gopclntab header");
  }
  if (*text_start == 0) {
    // Left to a relocation in some builds: the text section starts there.
    std::optional<ElfFile::Section> text = elf.section(".text");
    if (!text) return fail(ExitCode::kFailure, "no .text section");
    *text_start = text->vaddr;
  }
  // The function table: nfunc (entry offset, _func offset) pairs of u32 and
  // a last entry offset that ends the last function. A _func starts with
  // its entry offset and the offset of its name in the name table.
  std::map<std::string, FunctionRange> found;
  for (uint64_t i = 0; i < *nfunc && found.size() < names.size(); ++i) {
    std::optional<uint64_t> entry = tab.uint(*functab + 8 * i, 4);
    std::optional<uint64_t> func = tab.uint(*functab + 8 * i + 4, 4);
    std::optional<uint64_t> next = tab.uint(*functab + 8 * (i + 1), 4);
    if (!entry || !func || !next) return fail(ExitCode::kFailure, "truncated .gopclntab");
    std::optional<uint64_t> name_off = tab.uint(*functab + *func + 4, 4);
    if (!name_off) return fail(ExitCode::kFailure, "truncated .gopclntab");
    std::optional<std::string_view> name = tab.cstr(*funcnames + *name_off);
    if (!name) continue;
    auto wanted = names.find(*name);
    if (wanted == names.end() || *next <= *entry) continue;
    found[*wanted] = FunctionRange{*text_start + *entry, *next - *entry};
  }
  return found;
}

}  // namespace tlstap::discovery::internal
