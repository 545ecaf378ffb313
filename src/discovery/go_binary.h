// Go programs, read from what even a stripped (-ldflags='-s -w') or PIE
// binary keeps: every function's address in .gopclntab, the table the Go
// runtime itself uses for stack traces (a Go program cannot run without it),
// and the toolchain version where the binary still says it. Internal to
// src/discovery.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "discovery/elf_file.h"
#include "util/error.h"

namespace tlstap::discovery::internal {

// The first word of .gopclntab, by the Go releases that write it.
enum class PclnTabLayout { kGo12, kGo116, kGo118, kGo120 };

// What makes a file a Go program. Any one of these is enough: a .gopclntab
// whose first word is one of the layouts above, a .go.buildinfo with its
// magic, or the "Go" build id note (which a binary without section headers
// keeps in its PT_NOTE segment).
// The Go linker's build id note: owner "Go", type 4 (cmd/link's ELF note).
inline constexpr uint32_t kGoBuildIdNote = 4;

struct GoFile {
  std::optional<ElfFile::Section> pclntab;  // .gopclntab (.data.rel.ro.gopclntab in a PIE)
  std::optional<PclnTabLayout> layout;      // std::nullopt: no table, or an unknown first word
  // "1.19.8" for a program built by go1.19.8, from .go.buildinfo (what `go
  // version` reads); std::nullopt when the section is missing, as in
  // binaries repackaged outside the Go toolchain.
  std::optional<std::string> buildinfo_version;
};
std::optional<GoFile> identify_go(const ElfFile& elf);

// The releases a table layout comes from ("1.20 or later"), for when the
// binary records no version.
std::string layout_versions(PclnTabLayout layout);

struct FunctionRange {
  uint64_t vaddr = 0;
  uint64_t size = 0;  // up to the next function's entry
};

// The functions named in `names` that the program contains, from its
// .gopclntab (the Go 1.18+ layout). An Error when the table is missing or
// in a layout tlstap does not read.
Result<std::map<std::string, FunctionRange>> go_functions(
    const ElfFile& elf, const GoFile& go, const std::set<std::string, std::less<>>& names);

// runtime.buildVersion ("1.26.0"), what runtime.Version() returns, read
// without symbols: runtime.schedinit (`schedinit`, its range from
// go_functions) compares the variable with "" precisely so that the linker
// keeps it, so one of the addresses its code reads (x86-64 RIP-relative
// operands) is the variable's string header {ptr, len}. Taken only when
// that header leads to `go1.N[.N]` and nothing else; std::nullopt
// otherwise. A scan of .rodata for "go1." could take any message that
// names a Go release; this reads the variable the runtime reports.
std::optional<std::string> runtime_build_version(const ElfFile& elf,
                                                 const FunctionRange& schedinit);

}  // namespace tlstap::discovery::internal
