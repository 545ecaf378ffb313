// The oracles and temporary files discovery_oracles.h declares.
#include "discovery_oracles.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

namespace tlstap::discovery {

std::string RunCommand(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
  pclose(pipe);
  return out;
}

std::vector<std::string> Fields(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> fields;
  for (std::string field; in >> field;) fields.push_back(field);
  return fields;
}

std::map<std::string, ReadelfSymbol> ReadelfFunctions(const std::string& path,
                                                      const std::string& table) {
  struct Load {
    uint64_t offset, vaddr, filesz;
  };
  std::vector<Load> loads;
  std::istringstream segments(RunCommand("readelf -W -l '" + path + "'"));
  for (std::string line; std::getline(segments, line);) {
    std::vector<std::string> f = Fields(line);
    if (f.size() < 5 || f[0] != "LOAD") continue;
    loads.push_back({std::stoull(f[1], nullptr, 16), std::stoull(f[2], nullptr, 16),
                     std::stoull(f[4], nullptr, 16)});
  }

  std::map<std::string, ReadelfSymbol> functions;
  std::istringstream symbols(RunCommand("readelf -W --" + table + " '" + path + "'"));
  for (std::string line; std::getline(symbols, line);) {
    // Num: Value Size Type Bind Vis Ndx Name
    std::vector<std::string> f = Fields(line);
    if (f.size() < 8 || f[3] != "FUNC" || f[6] == "UND") continue;
    std::string name = f[7];
    if (size_t at = name.find('@'); at != std::string::npos) {
      if (name.compare(at, 2, "@@") != 0) continue;
      name.resize(at);
    }
    uint64_t vaddr = std::stoull(f[1], nullptr, 16);
    for (const Load& load : loads) {
      if (vaddr >= load.vaddr && vaddr < load.vaddr + load.filesz) {
        functions[name] = {vaddr, vaddr - load.vaddr + load.offset};
      }
    }
  }
  return functions;
}

std::map<std::string, uint64_t> Offsets(const Target& target) {
  std::map<std::string, uint64_t> offsets;
  for (const auto& [name, symbol] : target.symbols) {
    EXPECT_EQ(symbol.name, name);
    offsets[name] = symbol.file_offset;
  }
  return offsets;
}

std::map<std::string, uint64_t> Offsets(const std::map<std::string, ReadelfSymbol>& symbols,
                                        const std::set<std::string>& names) {
  std::map<std::string, uint64_t> offsets;
  for (const std::string& name : names) {
    if (auto it = symbols.find(name); it != symbols.end()) offsets[name] = it->second.file_offset;
  }
  return offsets;
}

FileId StatId(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return {st.st_dev, st.st_ino};
}

std::string SystemLibrary(const std::string& soname) {
  for (const std::string& path : read_ld_cache()) {
    if (path.ends_with("/" + soname)) return path;
  }
  return "";
}

TempDir::TempDir() {
  std::string pattern = testing::TempDir() + "discovery_test.XXXXXX";
  path_ = mkdtemp(pattern.data());
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary);
  out << contents;
  ASSERT_TRUE(out.good()) << path;
}

}  // namespace tlstap::discovery
