// A read-only view of one ELF file through libelf. Internal to src/discovery.
#pragma once

#include <gelf.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "discovery/targets.h"
#include "util/error.h"

namespace tlstap::discovery::internal {

class ElfFile {
 public:
  // Fails, with a one-line message naming the file, if it cannot be opened or
  // is not an ELF file.
  static Result<std::unique_ptr<ElfFile>> open(const std::string& path);
  ~ElfFile();
  ElfFile(const ElfFile&) = delete;
  ElfFile& operator=(const ElfFile&) = delete;

  // The file's identity, from fstat() on the open descriptor.
  FileId id() const { return id_; }
  // Its size in bytes, from the same fstat().
  uint64_t size() const { return size_; }

  // DT_SONAME, or "" if the file has none.
  std::string soname() const;
  // The DT_NEEDED libraries, in order.
  std::vector<std::string> needed() const;

  // Where the byte loaded at `vaddr` sits in the file, through the PT_LOAD
  // segment that contains it; std::nullopt if no segment does.
  std::optional<uint64_t> file_offset(uint64_t vaddr) const;
  // The reverse: the address a file offset is loaded at.
  std::optional<uint64_t> vaddr(uint64_t file_offset) const;

  // A section by name: where it is loaded and where it sits in the file.
  struct Section {
    uint64_t vaddr = 0, file_offset = 0, size = 0;
  };
  std::optional<Section> section(std::string_view name) const;

  // Up to `len` bytes of the file at `file_offset` (fewer at its end).
  std::vector<uint8_t> read(uint64_t file_offset, size_t len) const;
  // The description of the first note with this owner and type in the
  // PT_NOTE segments (which stay when section headers are stripped):
  // ("GNU", NT_GNU_BUILD_ID) is the GNU build id, ("Go", 4) Go's.
  std::optional<std::vector<uint8_t>> note(std::string_view owner, uint32_t type) const;
  // ELF e_machine (EM_X86_64, EM_AARCH64, ...).
  uint16_t machine() const { return machine_; }

  // The NUL-terminated string in .rodata that starts with `prefix` (the
  // first one), or "" if there is none.
  std::string find_rodata_string(std::string_view prefix) const;

  // The defined functions (STT_FUNC) among `names`, as file offsets. .dynsym
  // is searched first and .symtab fills in what it lacks; within a table a
  // default-version global wins over a hidden-version or local one.
  std::map<std::string, uint64_t> find_functions(
      const std::set<std::string, std::less<>>& names) const;

 private:
  std::vector<std::string> dynamic_strings(int64_t tag) const;

  ElfFile(int fd, Elf* elf, FileId id, uint64_t size, uint16_t machine,
          std::vector<GElf_Phdr> loads, std::vector<GElf_Phdr> notes)
      : fd_(fd),
        elf_(elf),
        id_(id),
        size_(size),
        machine_(machine),
        loads_(std::move(loads)),
        notes_(std::move(notes)) {}

  int fd_;
  Elf* elf_;
  FileId id_;
  uint64_t size_;
  uint16_t machine_;
  std::vector<GElf_Phdr> loads_;  // PT_LOAD program headers
  std::vector<GElf_Phdr> notes_;  // PT_NOTE program headers
};

}  // namespace tlstap::discovery::internal
