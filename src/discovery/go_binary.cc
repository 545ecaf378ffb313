#include "discovery/go_binary.h"

#include <algorithm>
#include <cstring>
#include <set>
#include <span>
#include <string_view>
#include <vector>

#include "discovery/call_targets.h"

namespace tlstap::discovery::internal {
namespace {

// .go.buildinfo starts with this, then the pointer size and a flags byte.
constexpr std::string_view kBuildInfoMagic = "\xff Go buildinf:";
constexpr size_t kBuildInfoHeader = 32;
constexpr uint8_t kBuildInfoInlineStrings = 0x2;  // Go 1.18+: version inline

// .gopclntab's first word, by release. 1.18 and 1.20 share the header and
// function table layout read here.
constexpr uint32_t kPclnTab12 = 0xfffffffb;
constexpr uint32_t kPclnTab116 = 0xfffffffa;
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

// The version .go.buildinfo records, if the file has that section.
std::optional<std::string> buildinfo_version(const ElfFile& elf) {
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

// "go1.26.0", "go1.21rc2", "go1.19.8 X:boringcrypto": a release the way
// the toolchain spells it, without "go".
std::optional<std::string> release_name(std::string_view s) {
  if (!s.starts_with("go1.")) return std::nullopt;
  s.remove_prefix(2);
  size_t end = s.find(' ');
  std::string_view release = s.substr(0, end);
  bool digit_before = false;
  for (char c : release) {
    if (c >= '0' && c <= '9') {
      digit_before = true;
    } else if ((c == '.' && digit_before) || (c >= 'a' && c <= 'z')) {
      digit_before = false;
    } else {
      return std::nullopt;
    }
  }
  if (!digit_before) return std::nullopt;
  // After a space only printable ASCII (the experiments).
  for (char c : s) {
    if (c < 0x20 || c > 0x7e) return std::nullopt;
  }
  return std::string(s);
}

}  // namespace

std::optional<GoFile> identify_go(const ElfFile& elf) {
  GoFile go;
  go.pclntab = elf.section(".gopclntab");
  if (!go.pclntab) go.pclntab = elf.section(".data.rel.ro.gopclntab");
  if (go.pclntab) {
    std::vector<uint8_t> head = elf.read(go.pclntab->file_offset, 4);
    if (std::optional<uint64_t> magic = Bytes(head).uint(0, 4)) {
      switch (*magic) {
        case kPclnTab12:
          go.layout = PclnTabLayout::kGo12;
          break;
        case kPclnTab116:
          go.layout = PclnTabLayout::kGo116;
          break;
        case kPclnTab118:
          go.layout = PclnTabLayout::kGo118;
          break;
        case kPclnTab120:
          go.layout = PclnTabLayout::kGo120;
          break;
      }
    }
  }
  go.buildinfo_version = buildinfo_version(elf);
  if (go.layout || go.buildinfo_version || elf.note("Go", kGoBuildIdNote)) return go;
  return std::nullopt;
}

std::string layout_versions(PclnTabLayout layout) {
  switch (layout) {
    case PclnTabLayout::kGo12:
      return "1.2 to 1.15";
    case PclnTabLayout::kGo116:
      return "1.16 or 1.17";
    case PclnTabLayout::kGo118:
      return "1.18 or 1.19";
    case PclnTabLayout::kGo120:
      break;
  }
  return "1.20 or later";
}

std::optional<std::string> runtime_build_version(const ElfFile& elf,
                                                 const FunctionRange& schedinit) {
  std::optional<uint64_t> code_at = elf.file_offset(schedinit.vaddr);
  if (!code_at) return std::nullopt;
  std::vector<uint8_t> code = elf.read(*code_at, schedinit.size);
  constexpr uint64_t kMaxVersion = 128;
  std::set<uint64_t> tried;
  for (uint64_t operand : rip_relative_operands(code, schedinit.vaddr, elf.machine())) {
    // schedinit reads both words of the header: try each as its start.
    for (uint64_t header : {operand, operand - 8}) {
      if (!tried.insert(header).second) continue;
      std::optional<uint64_t> at = elf.file_offset(header);
      if (!at) continue;
      std::vector<uint8_t> words = elf.read(*at, 16);
      Bytes b(words);
      std::optional<uint64_t> ptr = b.uint(0, 8), len = b.uint(8, 8);
      if (!ptr || !len || *len < 4 || *len > kMaxVersion) continue;
      std::optional<uint64_t> text_at = elf.file_offset(*ptr);
      if (!text_at) continue;
      std::vector<uint8_t> text = elf.read(*text_at, *len);
      if (text.size() != *len) continue;
      if (auto release = release_name({reinterpret_cast<const char*>(text.data()), text.size()})) {
        return release;
      }
    }
  }
  return std::nullopt;
}

namespace {

// Reads the parts of one .gopclntab that a name lookup needs, from the file,
// never the whole table (tens of MB in a large program).
class PclnTab {
 public:
  PclnTab(const ElfFile& elf, const ElfFile::Section& section) : elf_(elf), section_(section) {}

  // `len` bytes at `at` in the table, or fewer at its end.
  std::vector<uint8_t> read(uint64_t at, uint64_t len) const {
    if (at >= section_.size) return {};
    return elf_.read(section_.file_offset + at, std::min(len, section_.size - at));
  }
  std::optional<uint64_t> uint(uint64_t at, size_t width) const {
    return Bytes(read(at, width)).uint(0, width);
  }

 private:
  const ElfFile& elf_;
  ElfFile::Section section_;
};

// Where each of `names` starts in the function name table (NUL-separated
// names), every place it occurs.
std::map<uint64_t, std::string> name_offsets(std::string_view table,
                                             const std::set<std::string, std::less<>>& names) {
  std::map<uint64_t, std::string> offsets;
  for (const std::string& name : names) {
    const std::string needle = std::string(1, '\0') + name + '\0';
    if (table.starts_with(needle.substr(1))) offsets.emplace(0, name);
    for (size_t at = table.find(needle); at != std::string_view::npos;
         at = table.find(needle, at + 1)) {
      offsets.emplace(at + 1, name);
    }
  }
  return offsets;
}

}  // namespace

Result<std::map<std::string, FunctionRange>> go_functions(
    const ElfFile& elf, const GoFile& go, const std::set<std::string, std::less<>>& names) {
  if (!go.pclntab) {
    return fail(ExitCode::kFailure, "no .gopclntab section (section headers stripped?)");
  }
  if (!go.layout) return fail(ExitCode::kFailure, "its .gopclntab starts with an unknown word");
  if (*go.layout != PclnTabLayout::kGo118 && *go.layout != PclnTabLayout::kGo120) {
    return fail(ExitCode::kFailure, "its .gopclntab is in the layout of Go " +
                                        layout_versions(*go.layout) +
                                        ", which tlstap does not read (Go 1.18 or later)");
  }
  PclnTab tab(elf, *go.pclntab);
  // Header: magic u32, two pad bytes, min instruction size, pointer size,
  // then pointer-sized nfunc, nfiles, textStart, funcnameOffset, cuOffset,
  // filetabOffset, pctabOffset, pclnOffset.
  std::vector<uint8_t> header = tab.read(0, 8 + 8 * 8);
  if (header.size() < 8) return fail(ExitCode::kFailure, "truncated .gopclntab header");
  const size_t ptr = header[7];
  if (ptr != 4 && ptr != 8) return fail(ExitCode::kFailure, "bad .gopclntab pointer size");
  auto word = [&](int index) { return Bytes(header).uint(8 + index * ptr, ptr); };
  std::optional<uint64_t> nfunc = word(0), text_start = word(2), funcnames = word(3), cu = word(4),
                          functab = word(7);
  if (!nfunc || !text_start || !funcnames || !cu || !functab || *cu < *funcnames) {
    return fail(ExitCode::kFailure, "truncated .gopclntab header");
  }
  if (*text_start == 0) {
    // Left to a relocation in some builds: the text section starts there.
    std::optional<ElfFile::Section> text = elf.section(".text");
    if (!text) return fail(ExitCode::kFailure, "no .text section");
    *text_start = text->vaddr;
  }
  // The names first (a few MB at most): where each wanted one sits.
  std::vector<uint8_t> name_bytes = tab.read(*funcnames, *cu - *funcnames);
  const std::map<uint64_t, std::string> wanted =
      name_offsets({reinterpret_cast<const char*>(name_bytes.data()), name_bytes.size()}, names);

  // The function table: nfunc (entry offset, _func offset) pairs of u32 and
  // a last entry offset that ends the last function. A _func starts with
  // its entry offset and the offset of its name in the name table.
  auto name_of = [&](uint64_t i) -> std::optional<uint64_t> {
    std::optional<uint64_t> func = tab.uint(*functab + 8 * i + 4, 4);
    if (!func) return std::nullopt;
    return tab.uint(*functab + *func + 4, 4);
  };
  std::map<std::string, FunctionRange> found;
  auto take = [&](uint64_t i, const std::string& name) -> bool {
    std::vector<uint8_t> pair = tab.read(*functab + 8 * i, 12);
    std::optional<uint64_t> entry = Bytes(pair).uint(0, 4), next = Bytes(pair).uint(8, 4);
    if (!entry || !next || *next <= *entry) return false;
    // A function called from assembly has an ABI wrapper of the same name
    // (a few bytes that jump to it): the function itself is the larger.
    FunctionRange range{*text_start + *entry, *next - *entry};
    auto [it, inserted] = found.try_emplace(name, range);
    if (!inserted && range.size > it->second.size) it->second = range;
    return true;
  };
  // The linker writes the names in the order of the functions, so a name's
  // offset grows with the function's index, except for the few names first
  // written for a function inlined into an earlier one: a binary search
  // finds a function in ~17 reads, and what it finds is checked. A name it
  // misses sends the lookup through the whole table, comparing offsets.
  std::set<uint64_t> missed;
  for (const auto& [offset, name] : wanted) {
    uint64_t lo = 0, hi = *nfunc;
    bool hit = false;
    while (lo < hi) {
      uint64_t mid = lo + (hi - lo) / 2;
      std::optional<uint64_t> at = name_of(mid);
      if (!at) return fail(ExitCode::kFailure, "truncated .gopclntab");
      if (*at == offset) {
        hit = take(mid, name);
        break;
      }
      if (*at < offset) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    if (!hit) missed.insert(offset);
  }
  if (!missed.empty()) {
    std::vector<uint8_t> pcln = tab.read(*functab, go.pclntab->size - *functab);
    Bytes funcs(pcln);
    for (uint64_t i = 0; i < *nfunc; ++i) {
      std::optional<uint64_t> func = funcs.uint(8 * i + 4, 4);
      if (!func) return fail(ExitCode::kFailure, "truncated .gopclntab");
      std::optional<uint64_t> name_off = funcs.uint(*func + 4, 4);
      if (!name_off) return fail(ExitCode::kFailure, "truncated .gopclntab");
      if (missed.contains(*name_off)) take(i, wanted.at(*name_off));
    }
  }
  return found;
}

}  // namespace tlstap::discovery::internal
