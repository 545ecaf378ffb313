// Independent expectations for discovery_test, from binutils and the file
// system (test-only; production code must not popen), and temporary files.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "discovery/targets.h"

namespace tlstap::discovery {

// What `command` writes to its standard output.
std::string RunCommand(const std::string& command);

// `line` split at whitespace.
std::vector<std::string> Fields(const std::string& line);

struct ReadelfSymbol {
  uint64_t vaddr = 0;
  uint64_t file_offset = 0;
};

// Defined FUNC symbols as readelf lists them ("dyn-syms" or "syms"), keeping
// the default version ("f@@V" or unversioned; never "f@V"), with the file
// offset worked out from readelf's own LOAD program headers.
std::map<std::string, ReadelfSymbol> ReadelfFunctions(const std::string& path,
                                                      const std::string& table);

// The file offset of each of `target`'s symbols, by name.
std::map<std::string, uint64_t> Offsets(const Target& target);

// The file offsets of those of `names` that `symbols` has.
std::map<std::string, uint64_t> Offsets(const std::map<std::string, ReadelfSymbol>& symbols,
                                        const std::set<std::string>& names);

// The (device, inode) stat() gives `path`.
FileId StatId(const std::string& path);

// The path of `soname` in the linker cache, or "" if it is not there.
std::string SystemLibrary(const std::string& soname);

// A directory removed with everything in it when the test ends.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void WriteFile(const std::string& path, const std::string& contents);

}  // namespace tlstap::discovery
