#include "discovery/elf_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

namespace tlstap::discovery::internal {
namespace {

constexpr uint16_t kVersymHidden = 0x8000;  // VERSYM_HIDDEN: not the default version

Result<std::unique_ptr<ElfFile>> read_failure(const std::string& path, std::string why) {
  return fail(ExitCode::kFailure, "cannot inspect " + path + ": " + why);
}

// A symbol found so far; a lower rank is preferred.
struct Candidate {
  uint64_t vaddr = 0;
  int rank = 0;
};

struct SymbolTable {
  Elf_Scn* scn = nullptr;
  GElf_Shdr shdr{};
};

// Collects the defined functions named in `names` from one symbol table.
// `versym` is the .gnu.version data matching a .dynsym, or null.
void collect_functions(Elf* elf, const SymbolTable& table, Elf_Data* versym,
                       const std::set<std::string, std::less<>>& names,
                       std::map<std::string, Candidate>* found) {
  if (table.scn == nullptr || table.shdr.sh_entsize == 0) return;
  Elf_Data* data = elf_getdata(table.scn, nullptr);
  if (data == nullptr) return;
  size_t count = table.shdr.sh_size / table.shdr.sh_entsize;
  for (size_t i = 0; i < count; ++i) {
    GElf_Sym sym;
    if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr) break;
    if (GELF_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_shndx == SHN_UNDEF || sym.st_value == 0) {
      continue;
    }
    const char* raw_name = elf_strptr(elf, table.shdr.sh_link, sym.st_name);
    if (raw_name == nullptr) continue;
    std::string_view name = raw_name;
    int rank = GELF_ST_BIND(sym.st_info) == STB_LOCAL ? 1 : 0;
    // .symtab spells versions into names: "f@@V" is the default, "f@V" is not.
    if (size_t at = name.find('@'); at != std::string_view::npos) {
      if (name.substr(at, 2) != "@@") rank = 1;
      name = name.substr(0, at);
    }
    if (versym != nullptr) {
      GElf_Versym version;
      if (gelf_getversym(versym, static_cast<int>(i), &version) != nullptr &&
          (version & kVersymHidden) != 0) {
        rank = 1;
      }
    }
    auto wanted = names.find(name);
    if (wanted == names.end()) continue;
    auto [it, inserted] = found->try_emplace(*wanted, Candidate{sym.st_value, rank});
    if (!inserted && rank < it->second.rank) it->second = Candidate{sym.st_value, rank};
  }
}

}  // namespace

Result<std::unique_ptr<ElfFile>> ElfFile::open(const std::string& path) {
  static const bool libelf_ready = elf_version(EV_CURRENT) != EV_NONE;
  if (!libelf_ready) return read_failure(path, "libelf is too old for this ELF version");

  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return read_failure(path, std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    std::string why = std::strerror(errno);
    close(fd);
    return read_failure(path, why);
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return read_failure(path, "not a regular file");
  }
  // ELF_C_READ rather than ELF_C_READ_MMAP: a library truncated while mapped
  // would kill us with SIGBUS.
  Elf* elf = elf_begin(fd, ELF_C_READ, nullptr);
  if (elf == nullptr) {
    std::string why = elf_errmsg(-1);
    close(fd);
    return read_failure(path, why);
  }
  auto fail = [&](std::string why) {
    elf_end(elf);
    close(fd);
    return read_failure(path, why);
  };
  if (elf_kind(elf) != ELF_K_ELF) return fail("not an ELF file");
  GElf_Ehdr ehdr;
  if (gelf_getehdr(elf, &ehdr) == nullptr) return fail(elf_errmsg(-1));

  size_t phnum = 0;
  if (elf_getphdrnum(elf, &phnum) != 0) return fail(elf_errmsg(-1));
  std::vector<GElf_Phdr> loads, notes;
  for (size_t i = 0; i < phnum; ++i) {
    GElf_Phdr phdr;
    if (gelf_getphdr(elf, static_cast<int>(i), &phdr) == nullptr) return fail(elf_errmsg(-1));
    if (phdr.p_type == PT_LOAD) loads.push_back(phdr);
    if (phdr.p_type == PT_NOTE) notes.push_back(phdr);
  }
  FileId id{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
  return std::unique_ptr<ElfFile>(new ElfFile(fd, elf, id, static_cast<uint64_t>(st.st_size),
                                              ehdr.e_machine, std::move(loads), std::move(notes)));
}

ElfFile::~ElfFile() {
  elf_end(elf_);
  close(fd_);
}

std::vector<std::string> ElfFile::dynamic_strings(int64_t tag) const {
  std::vector<std::string> values;
  for (Elf_Scn* scn = elf_nextscn(elf_, nullptr); scn != nullptr; scn = elf_nextscn(elf_, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_type != SHT_DYNAMIC) continue;
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (shdr.sh_entsize == 0 || data == nullptr) break;
    size_t count = shdr.sh_size / shdr.sh_entsize;
    for (size_t i = 0; i < count; ++i) {
      GElf_Dyn dyn;
      if (gelf_getdyn(data, static_cast<int>(i), &dyn) == nullptr || dyn.d_tag == DT_NULL) break;
      if (dyn.d_tag != tag) continue;
      if (const char* value = elf_strptr(elf_, shdr.sh_link, dyn.d_un.d_val)) {
        values.emplace_back(value);
      }
    }
    break;
  }
  return values;
}

std::string ElfFile::soname() const {
  std::vector<std::string> names = dynamic_strings(DT_SONAME);
  return names.empty() ? "" : names.front();
}

std::vector<std::string> ElfFile::needed() const { return dynamic_strings(DT_NEEDED); }

std::optional<uint64_t> ElfFile::file_offset(uint64_t vaddr) const {
  for (const GElf_Phdr& load : loads_) {
    if (vaddr >= load.p_vaddr && vaddr - load.p_vaddr < load.p_filesz) {
      return vaddr - load.p_vaddr + load.p_offset;
    }
  }
  return std::nullopt;
}

std::optional<uint64_t> ElfFile::vaddr(uint64_t file_offset) const {
  for (const GElf_Phdr& load : loads_) {
    if (file_offset >= load.p_offset && file_offset - load.p_offset < load.p_filesz) {
      return file_offset - load.p_offset + load.p_vaddr;
    }
  }
  return std::nullopt;
}

std::optional<ElfFile::Section> ElfFile::section(std::string_view name) const {
  size_t names_index = 0;
  if (elf_getshdrstrndx(elf_, &names_index) != 0) return std::nullopt;
  for (Elf_Scn* scn = elf_nextscn(elf_, nullptr); scn != nullptr; scn = elf_nextscn(elf_, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr) continue;
    const char* scn_name = elf_strptr(elf_, names_index, shdr.sh_name);
    if (scn_name != nullptr && scn_name == name && shdr.sh_type != SHT_NOBITS) {
      return Section{shdr.sh_addr, shdr.sh_offset, shdr.sh_size};
    }
  }
  return std::nullopt;
}

std::optional<std::vector<uint8_t>> ElfFile::note(std::string_view owner, uint32_t type) const {
  constexpr size_t kMaxNotes = 4096;  // build ids are a few dozen bytes
  auto align4 = [](uint64_t n) { return (n + 3) & ~uint64_t{3}; };
  for (const GElf_Phdr& phdr : notes_) {
    std::vector<uint8_t> data = read(phdr.p_offset, std::min<uint64_t>(phdr.p_filesz, kMaxNotes));
    auto word = [&data](uint64_t at) {
      uint32_t v;
      std::memcpy(&v, data.data() + at, sizeof(v));
      return v;
    };
    // Each note: namesz, descsz, type (4 bytes each), the name, the
    // description, each padded to 4 bytes.
    for (uint64_t at = 0; at + 12 <= data.size();) {
      const uint64_t namesz = word(at), descsz = word(at + 4), note_type = word(at + 8);
      const uint64_t name_at = at + 12, desc_at = name_at + align4(namesz);
      if (namesz > data.size() || descsz > data.size() || desc_at + descsz > data.size()) break;
      // Without its NULs: Go pads its "Go" to namesz 4.
      std::string_view name(reinterpret_cast<const char*>(data.data() + name_at), namesz);
      while (!name.empty() && name.back() == '\0') name.remove_suffix(1);
      if (note_type == type && name == owner) {
        return std::vector<uint8_t>(data.begin() + desc_at, data.begin() + desc_at + descsz);
      }
      at = desc_at + align4(descsz);
    }
  }
  return std::nullopt;
}

std::vector<uint8_t> ElfFile::read(uint64_t file_offset, size_t len) const {
  std::vector<uint8_t> bytes(len);
  ssize_t n = pread(fd_, bytes.data(), len, static_cast<off_t>(file_offset));
  bytes.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return bytes;
}

std::map<std::string, uint64_t> ElfFile::find_functions(
    const std::set<std::string, std::less<>>& names) const {
  SymbolTable dynsym, symtab;
  Elf_Data* versym = nullptr;
  for (Elf_Scn* scn = elf_nextscn(elf_, nullptr); scn != nullptr; scn = elf_nextscn(elf_, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr) continue;
    if (shdr.sh_type == SHT_DYNSYM) {
      dynsym = {scn, shdr};
    } else if (shdr.sh_type == SHT_SYMTAB) {
      symtab = {scn, shdr};
    } else if (shdr.sh_type == SHT_GNU_versym) {
      versym = elf_getdata(scn, nullptr);
    }
  }

  std::map<std::string, Candidate> found;
  collect_functions(elf_, dynsym, versym, names, &found);
  if (found.size() < names.size()) {
    std::map<std::string, Candidate> from_symtab;
    collect_functions(elf_, symtab, nullptr, names, &from_symtab);
    found.merge(from_symtab);  // keeps the .dynsym entry where both have one
  }

  std::map<std::string, uint64_t> offsets;
  for (const auto& [name, candidate] : found) {
    if (std::optional<uint64_t> offset = file_offset(candidate.vaddr)) offsets[name] = *offset;
  }
  return offsets;
}

std::string ElfFile::find_rodata_string(std::string_view prefix) const {
  size_t names = 0;
  if (elf_getshdrstrndx(elf_, &names) != 0) return "";
  for (Elf_Scn* scn = elf_nextscn(elf_, nullptr); scn != nullptr; scn = elf_nextscn(elf_, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_type != SHT_PROGBITS) continue;
    const char* name = elf_strptr(elf_, names, shdr.sh_name);
    if (name == nullptr || std::string_view(name) != ".rodata") continue;
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (data == nullptr || data->d_buf == nullptr) return "";
    std::string_view bytes(static_cast<const char*>(data->d_buf), data->d_size);
    size_t at = bytes.find(prefix);
    if (at == std::string_view::npos) return "";
    size_t end = bytes.find('\0', at);
    return std::string(bytes.substr(at, end == std::string_view::npos ? end : end - at));
  }
  return "";
}

}  // namespace tlstap::discovery::internal
