// Go programs, read from what even a stripped (-ldflags='-s -w') or PIE
// binary keeps: the toolchain version in .go.buildinfo, and every
// function's address in .gopclntab, the table the Go runtime itself uses
// for stack traces. Internal to src/discovery.
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

// "1.19.8" for a program built by go1.19.8; std::nullopt if the file has no
// Go build information (not a Go program, or older than Go 1.13).
std::optional<std::string> go_version(const ElfFile& elf);

struct FunctionRange {
  uint64_t vaddr = 0;
  uint64_t size = 0;  // up to the next function's entry
};

// The functions named in `names` that the program contains, from its
// .gopclntab (the Go 1.18+ layout). An Error when the table is missing or
// in a layout tlstap does not read.
Result<std::map<std::string, FunctionRange>> go_functions(
    const ElfFile& elf, const std::set<std::string, std::less<>>& names);

}  // namespace tlstap::discovery::internal
