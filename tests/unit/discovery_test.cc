#include <dlfcn.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "discovery/targets.h"

namespace tlstap::discovery {
namespace {

using namespace std::string_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

constexpr uint64_t kFakeLibsslBase = 0x200000;  // -Ttext-segment in tests/unit/CMakeLists.txt

// --- Independent expectations, from binutils (test-only; production code must not popen). ---

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

struct ReadelfSymbol {
  uint64_t vaddr = 0;
  uint64_t file_offset = 0;
};

// Defined FUNC symbols as readelf lists them ("dyn-syms" or "syms"), keeping
// the default version ("f@@V" or unversioned; never "f@V"), with the file
// offset worked out from readelf's own LOAD program headers.
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

// A directory removed with everything in it when the test ends.
class TempDir {
 public:
  TempDir() {
    std::string pattern = testing::TempDir() + "discovery_test.XXXXXX";
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary);
  out << contents;
  ASSERT_TRUE(out.good()) << path;
}

// --- LibKindName ---

TEST(LibKindNameTest, OpenSsl) { EXPECT_EQ(lib_kind_name(LibKind::kOpenSsl), "openssl"); }
TEST(LibKindNameTest, GnuTls) { EXPECT_EQ(lib_kind_name(LibKind::kGnuTls), "gnutls"); }
TEST(LibKindNameTest, Go) { EXPECT_EQ(lib_kind_name(LibKind::kGo), "go"); }
TEST(LibKindNameTest, BoringSsl) { EXPECT_EQ(lib_kind_name(LibKind::kBoringSsl), "boringssl"); }
TEST(LibKindNameTest, Nss) { EXPECT_EQ(lib_kind_name(LibKind::kNss), "nss"); }

// --- ParseMaps ---

TEST(ParseMapsTest, ParsesEveryField) {
  const std::string text =
      // start-end      perms offset   dev    inode    path
      "7f3a1c000000-7f3a1c02a000 r-xp 0001c000 fd:01 1835111                    "
      "/usr/lib/x86_64-linux-gnu/libssl.so.3\n"
      // A path with spaces in it, on a device with a three-digit hex minor.
      "55d0c0a00000-55d0c0a01000 r-xp 00000000 103:1a2 42                         "
      "/opt/My App/bin/my app\n"
      // A file deleted while mapped.
      "7f3a1c100000-7f3a1c200000 r-xp 00002000 08:03 99 /tmp/old lib.so (deleted)\n"
      // Anonymous memory: no path at all.
      "7ffd5e1f0000-7ffd5e211000 rw-p 00000000 00:00 0 \n"
      // A pseudo-path.
      "55d0c1000000-55d0c1021000 rw-p 00000000 00:00 0                          [heap]\n";
  std::vector<Mapping> maps = parse_maps(text);
  ASSERT_EQ(maps.size(), 5u);

  EXPECT_EQ(maps[0].start, 0x7f3a1c000000u);
  EXPECT_EQ(maps[0].end, 0x7f3a1c02a000u);
  EXPECT_EQ(maps[0].perms, "r-xp");
  EXPECT_EQ(maps[0].offset, 0x1c000u);
  EXPECT_EQ(maps[0].dev_major, 0xfdu);
  EXPECT_EQ(maps[0].dev_minor, 0x01u);
  EXPECT_EQ(maps[0].inode, 1835111u);
  EXPECT_EQ(maps[0].path, "/usr/lib/x86_64-linux-gnu/libssl.so.3");

  EXPECT_EQ(maps[1].start, 0x55d0c0a00000u);
  EXPECT_EQ(maps[1].end, 0x55d0c0a01000u);
  EXPECT_EQ(maps[1].offset, 0u);
  EXPECT_EQ(maps[1].dev_major, 0x103u);
  EXPECT_EQ(maps[1].dev_minor, 0x1a2u);
  EXPECT_EQ(maps[1].inode, 42u);
  EXPECT_EQ(maps[1].path, "/opt/My App/bin/my app");

  EXPECT_EQ(maps[2].offset, 0x2000u);
  EXPECT_EQ(maps[2].dev_major, 8u);
  EXPECT_EQ(maps[2].dev_minor, 3u);
  EXPECT_EQ(maps[2].inode, 99u);
  EXPECT_EQ(maps[2].path, "/tmp/old lib.so (deleted)");

  EXPECT_EQ(maps[3].perms, "rw-p");
  EXPECT_EQ(maps[3].dev_major, 0u);
  EXPECT_EQ(maps[3].dev_minor, 0u);
  EXPECT_EQ(maps[3].inode, 0u);
  EXPECT_EQ(maps[3].path, "");

  EXPECT_EQ(maps[4].path, "[heap]");
}

// A JVM process (libjvm.so mapped, HotSpot or OpenJ9) does its TLS in Java
// (JSSE), which tlstap does not hook: named so --list can say it. A
// library merely called libjvm.so.1, or none, is not.
TEST(UnhookedRuntime, JavaByTheJvmsLibrary) {
  std::vector<Mapping> jvm = parse_maps(
      "7f3a1c000000-7f3a1c02a000 r-xp 00000000 fd:01 77 "
      "/usr/lib/x86_64-linux-gnu/libz.so.1.2.13\n"
      "7f3a1d000000-7f3a1e000000 r-xp 00200000 fd:01 78 "
      "/usr/lib/jvm/java-17-openjdk-amd64/lib/server/libjvm.so\n");
  auto runtime = unhooked_runtime(jvm);
  ASSERT_TRUE(runtime);
  EXPECT_EQ(runtime->name, "Java");
  EXPECT_EQ(runtime->tls, "JSSE");
  EXPECT_EQ(runtime->evidence, "/usr/lib/jvm/java-17-openjdk-amd64/lib/server/libjvm.so");
  EXPECT_FALSE(unhooked_runtime(parse_maps(
      "7f3a1c000000-7f3a1c02a000 r-xp 00000000 fd:01 77 /opt/x/libjvm.so.1\n"
      "7f3a1c100000-7f3a1c200000 r-xp 00000000 fd:01 79 /usr/lib/x86_64-linux-gnu/libssl.so.3\n")));
  EXPECT_FALSE(unhooked_runtime({}));
}

TEST(ParseMapsTest, SkipsGarbageLines) {
  const std::string text =
      "garbage\n"
      "\n"
      // No dash in the address range.
      "7f3a1c000000 r-xp 00000000 fd:01 1 /a\n"
      // Address not hex.
      "7f3a1g000000-7f3a1c02a000 r-xp 00000000 fd:01 1 /b\n"
      // Perms too short.
      "1000-2000 r-x 00000000 fd:01 1 /c\n"
      // Device without a colon.
      "1000-2000 r-xp 00000000 fd01 1 /d\n"
      // Inode not decimal.
      "1000-2000 r-xp 00000000 fd:01 1a /e\n"
      // Truncated after the device.
      "1000-2000 r-xp 00000000 fd:01\n"
      // A good line, last and without a trailing newline.
      "1000-2000 r-xp 00000010 fd:01 7 /good";
  std::vector<Mapping> maps = parse_maps(text);
  ASSERT_EQ(maps.size(), 1u);
  EXPECT_EQ(maps[0].start, 0x1000u);
  EXPECT_EQ(maps[0].end, 0x2000u);
  EXPECT_EQ(maps[0].offset, 0x10u);
  EXPECT_EQ(maps[0].inode, 7u);
  EXPECT_EQ(maps[0].path, "/good");
}

TEST(ParseMapsTest, ParsesOwnMaps) {
  std::ifstream in("/proc/self/maps");
  std::stringstream text;
  text << in.rdbuf();
  std::string contents = text.str();
  size_t lines = std::count(contents.begin(), contents.end(), '\n');
  std::vector<Mapping> maps = parse_maps(contents);
  EXPECT_EQ(maps.size(), lines);
  // This test binary is mapped executable, under its own inode.
  FileId self = StatId("/proc/self/exe");
  bool found = std::any_of(maps.begin(), maps.end(), [&](const Mapping& m) {
    return m.perms[2] == 'x' && m.inode == self.ino &&
           makedev(m.dev_major, m.dev_minor) == self.dev;
  });
  EXPECT_TRUE(found);
}

// --- InspectFile ---

TEST(InspectFileTest, FakeLibsslOffsetsMatchReadelf) {
  const std::string path = DISCOVERY_FAKE_LIBSSL;
  Result<std::optional<Target>> result = inspect_file(path);
  ASSERT_TRUE(result.has_value()) << result.error().message;
  ASSERT_TRUE(result->has_value());
  const Target& target = **result;
  EXPECT_EQ(target.kind, LibKind::kOpenSsl);
  EXPECT_EQ(target.version, "3");
  EXPECT_EQ(target.path, path);
  EXPECT_EQ(target.open_path, path);
  EXPECT_EQ(target.id, StatId(path));
  EXPECT_THAT(target.pids, IsEmpty());

  std::map<std::string, ReadelfSymbol> expected = ReadelfFunctions(path, "dyn-syms");
  const std::set<std::string> names = {"SSL_write", "SSL_read", "SSL_write_ex", "SSL_read_ex",
                                       "SSL_free"};
  std::map<std::string, uint64_t> expected_offsets = Offsets(expected, names);
  ASSERT_EQ(expected_offsets.size(), 5u);
  EXPECT_EQ(Offsets(target), expected_offsets);
  // The text segment is linked at 0x200000 but sits near the file's start:
  // offsets are addresses minus that base.
  for (const std::string& name : names) {
    EXPECT_EQ(target.symbols.at(name).file_offset, expected.at(name).vaddr - kFakeLibsslBase)
        << name;
  }
}

TEST(InspectFileTest, PrefersDefaultSymbolVersion) {
  const std::string path = DISCOVERY_FAKE_LIBSSL;
  // Both SSL_write@OPENSSL_1.0 and SSL_write@@OPENSSL_3.0.0 are defined.
  // (GNU ld happens to list the default first, so this catches preferring the
  // hidden version, not a plain first-wins.)
  std::string listing = RunCommand("readelf -W --dyn-syms '" + path + "'");
  uint64_t compat_vaddr = 0;
  std::istringstream lines(listing);
  for (std::string line; std::getline(lines, line);) {
    std::vector<std::string> f = Fields(line);
    if (f.size() >= 8 && f[7] == "SSL_write@OPENSSL_1.0")
      compat_vaddr = std::stoull(f[1], nullptr, 16);
  }
  ASSERT_NE(compat_vaddr, 0u) << listing;

  Result<std::optional<Target>> result = inspect_file(path);
  ASSERT_TRUE(result.has_value() && result->has_value());
  uint64_t expected = ReadelfFunctions(path, "dyn-syms").at("SSL_write").file_offset;
  EXPECT_EQ((*result)->symbols.at("SSL_write").file_offset, expected);
  EXPECT_NE((*result)->symbols.at("SSL_write").file_offset, compat_vaddr - kFakeLibsslBase);
}

TEST(InspectFileTest, ExecutableWithFunctionsOnlyInSymtab) {
  const std::string path = DISCOVERY_STATIC_TLS_APP;
  // Nothing exported: the functions are only in .symtab.
  EXPECT_THAT(Offsets(ReadelfFunctions(path, "dyn-syms"), {"SSL_write", "SSL_read"}), IsEmpty());
  std::map<std::string, uint64_t> expected =
      Offsets(ReadelfFunctions(path, "syms"), {"SSL_write", "SSL_read"});
  ASSERT_EQ(expected.size(), 2u);

  Result<std::optional<Target>> result = inspect_file(path);
  ASSERT_TRUE(result.has_value()) << result.error().message;
  ASSERT_TRUE(result->has_value());
  EXPECT_EQ((*result)->kind, LibKind::kOpenSsl);
  EXPECT_EQ((*result)->version, "");  // no SONAME
  EXPECT_EQ(Offsets(**result), expected);
}

TEST(InspectFileTest, LibraryWithoutSslWriteIsNotTls) {
  Result<std::optional<Target>> result = inspect_file(DISCOVERY_NOT_TLS);
  ASSERT_TRUE(result.has_value()) << result.error().message;
  EXPECT_FALSE(result->has_value());
}

TEST(InspectFileTest, NonElfFileIsError) {
  TempDir dir;
  const std::string path = dir.path() + "/notes.txt";
  WriteFile(path, "these are not the bytes you are looking for\n");
  Result<std::optional<Target>> result = inspect_file(path);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().message, "cannot inspect " + path + ": not an ELF file");
}

TEST(InspectFileTest, EmptyFileIsError) {
  TempDir dir;
  const std::string path = dir.path() + "/empty.so";
  WriteFile(path, "");
  Result<std::optional<Target>> result = inspect_file(path);
  ASSERT_FALSE(result.has_value());
  EXPECT_THAT(result.error().message, HasSubstr(path));
}

TEST(InspectFileTest, TruncatedElfIsError) {
  TempDir dir;
  const std::string path = dir.path() + "/truncated.so";
  std::ifstream in(DISCOVERY_FAKE_LIBSSL, std::ios::binary);
  std::string head(40, '\0');  // the ELF identification, cut off inside the header
  in.read(head.data(), head.size());
  WriteFile(path, head);
  Result<std::optional<Target>> result = inspect_file(path);
  ASSERT_FALSE(result.has_value());
  EXPECT_THAT(result.error().message, HasSubstr("cannot inspect " + path + ": "));
}

// A copy of a file (same build id, same size) takes the plan found for the
// first, under its own identity and path; a file of another size does not.
TEST(InspectFileTest, CopyOfKnownContentReusesItsPlan) {
  const std::string system = "/usr/lib/x86_64-linux-gnu/libssl.so.3";
  TempDir dir;
  const std::string first = dir.path() + "/libssl.so.3", copy = dir.path() + "/copy.so.3",
                    longer = dir.path() + "/longer.so.3";
  std::filesystem::copy_file(system, first);
  std::filesystem::copy_file(system, copy);
  std::filesystem::copy_file(system, longer);
  std::ofstream(longer, std::ios::app) << '\0';
  PlanCache cache;
  Result<std::optional<Target>> a = inspect_file(first, &cache);
  ASSERT_TRUE(a.has_value() && a->has_value());
  EXPECT_EQ(cache.hits(), 0u);
  Result<std::optional<Target>> b = inspect_file(copy, &cache);
  ASSERT_TRUE(b.has_value() && b->has_value());
  EXPECT_EQ(cache.hits(), 1u);
  EXPECT_EQ((*b)->id, StatId(copy));
  EXPECT_EQ((*b)->path, copy);
  EXPECT_EQ((*b)->open_path, copy);
  EXPECT_EQ((*b)->kind, (*a)->kind);
  EXPECT_EQ(Offsets(**b), Offsets(**a));
  EXPECT_EQ(Offsets(**b), Offsets(**inspect_file(copy)));  // what inspecting it finds
  Result<std::optional<Target>> c = inspect_file(longer, &cache);
  ASSERT_TRUE(c.has_value() && c->has_value());
  EXPECT_EQ(cache.hits(), 1u) << "a file of another size took the plan";
  // A Go program carries Go's build id note only (the name "Go" padded
  // with NULs to 4 bytes).
  const std::string go = GO_PEER_DIR "/tls_go_stripped", go_copy = dir.path() + "/tls_go_copy";
  std::filesystem::copy_file(go, go_copy);
  Result<std::optional<Target>> go_first = inspect_file(go, &cache);
  ASSERT_TRUE(go_first.has_value() && go_first->has_value());
  Result<std::optional<Target>> go_again = inspect_file(go_copy, &cache);
  ASSERT_TRUE(go_again.has_value() && go_again->has_value());
  EXPECT_EQ(cache.hits(), 2u);
  EXPECT_EQ((*go_again)->kind, LibKind::kGo);
  EXPECT_EQ((*go_again)->version, (*go_first)->version);
  EXPECT_EQ(Offsets(**go_again), Offsets(**go_first));
  EXPECT_EQ((*go_again)->returns, (*go_first)->returns);
  // Not TLS is remembered the same way.
  ASSERT_TRUE(inspect_file("/bin/true", &cache).has_value());
  const uint64_t before = cache.hits();
  TempDir other;
  std::filesystem::copy_file("/bin/true", other.path() + "/true");
  Result<std::optional<Target>> not_tls = inspect_file(other.path() + "/true", &cache);
  ASSERT_TRUE(not_tls.has_value());
  EXPECT_FALSE(not_tls->has_value());
  EXPECT_EQ(cache.hits(), before + 1);
}

TEST(InspectFileTest, MissingFileIsError) {
  Result<std::optional<Target>> result = inspect_file("/nonexistent/libssl.so.3");
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().message,
            "cannot inspect /nonexistent/libssl.so.3: No such file or directory");
}

TEST(InspectFileTest, DirectoryIsError) {
  Result<std::optional<Target>> result = inspect_file("/");
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().message, "cannot inspect /: not a regular file");
}

// The first `call` objdump shows in the function at `vaddr`.
uint64_t ObjdumpFirstCall(const std::string& path, uint64_t vaddr) {
  char range[96];
  snprintf(range, sizeof(range), "--start-address=0x%llx --stop-address=0x%llx",
           static_cast<unsigned long long>(vaddr), static_cast<unsigned long long>(vaddr + 64));
  std::istringstream lines(
      RunCommand("objdump -d --no-show-raw-insn " + std::string(range) + " '" + path + "'"));
  for (std::string line; std::getline(lines, line);) {
    std::vector<std::string> f = Fields(line);
    // "   35a14:  call   355a0 <...>"
    if (f.size() >= 3 && f[1] == "call") return std::stoull(f[2], nullptr, 16);
  }
  return 0;
}

// libssl3 is a dependency of the project (scripts/install-deps.sh): its
// absence is a broken set-up, not a reason to skip.
TEST(InspectFileTest, SystemLibssl) {
  const std::string path = SystemLibrary("libssl.so.3");
  ASSERT_FALSE(path.empty()) << "libssl.so.3 is not in the linker cache";
  Result<std::optional<Target>> result = inspect_file(path);
  ASSERT_TRUE(result.has_value()) << result.error().message;
  ASSERT_TRUE(result->has_value());
  const Target& target = **result;
  EXPECT_EQ(target.kind, LibKind::kOpenSsl);
  EXPECT_EQ(target.version, "3");
  std::map<std::string, uint64_t> offsets = Offsets(target);
  const std::set<std::string> exported = {"SSL_write",   "SSL_read", "SSL_write_ex",
                                          "SSL_read_ex", "SSL_free", "SSL_do_handshake"};
  std::map<std::string, ReadelfSymbol> readelf = ReadelfFunctions(path, "dyn-syms");
  std::map<std::string, uint64_t> expected = Offsets(readelf, exported);
  ASSERT_EQ(expected.size(), 6u);

  // The internal functions BIO_f_ssl also reaches: what SSL_write_ex and
  // SSL_read_ex call first, as objdump decodes it.
  for (auto [wrapper, internal] : {std::pair{"SSL_write_ex", "ssl_write_internal"},
                                   std::pair{"SSL_read_ex", "ssl_read_internal"}}) {
    const ReadelfSymbol& w = readelf.at(wrapper);
    uint64_t call = ObjdumpFirstCall(path, w.vaddr);
    ASSERT_NE(call, 0u) << wrapper;
    expected[internal] = call - w.vaddr + w.file_offset;  // same text segment
  }
  EXPECT_EQ(offsets, expected);
  EXPECT_NE(offsets.at("ssl_write_internal"), offsets.at("ssl_read_internal"));
}

TEST(InspectFileTest, NoInternalsWhenWrappersDoNotShareACall) {
  // fake_libssl's SSL_write_ex calls nothing: the exported functions it is.
  Result<std::optional<Target>> result = inspect_file(DISCOVERY_FAKE_LIBSSL);
  ASSERT_TRUE(result.has_value() && result->has_value());
  EXPECT_FALSE((*result)->symbols.contains("ssl_write_internal"));
  EXPECT_FALSE((*result)->symbols.contains("ssl_read_internal"));
}

TEST(InspectFileTest, SystemLibcryptoIsNotTls) {
  const std::string path = SystemLibrary("libcrypto.so.3");
  ASSERT_FALSE(path.empty()) << "libcrypto.so.3 is not in the linker cache";
  Result<std::optional<Target>> result = inspect_file(path);
  ASSERT_TRUE(result.has_value()) << result.error().message;
  EXPECT_FALSE(result->has_value());
}

// --- ReadLdCache ---

TEST(ReadLdCacheTest, MatchesLdconfig) {
  std::set<std::string> expected;
  std::istringstream lines(RunCommand("ldconfig -p"));
  for (std::string line; std::getline(lines, line);) {
    // "\tlibz.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libz.so.1"
    size_t arrow = line.find(" => ");
    if (arrow != std::string::npos) expected.insert(line.substr(arrow + 4));
  }
  ASSERT_FALSE(expected.empty());

  std::vector<std::string> paths = read_ld_cache();
  std::set<std::string> unique(paths.begin(), paths.end());
  EXPECT_EQ(unique.size(), paths.size()) << "duplicates in read_ld_cache()";
  EXPECT_EQ(unique, expected);
}

TEST(ReadLdCacheTest, MissingTruncatedOrGarbageFileIsEmpty) {
  EXPECT_THAT(read_ld_cache("/nonexistent/ld.so.cache"), IsEmpty());

  TempDir dir;
  const std::string path = dir.path() + "/ld.so.cache";
  WriteFile(path, "garbage, not a linker cache at all, but long enough for a header......\n");
  EXPECT_THAT(read_ld_cache(path), IsEmpty());

  std::ifstream in("/etc/ld.so.cache", std::ios::binary);
  std::string real((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(real.size(), 1000u);
  // Cut inside the magic, inside the header, and inside the entries.
  for (size_t size : {size_t{0}, size_t{10}, size_t{47}, size_t{48 + 24 * 3}}) {
    WriteFile(path, real.substr(0, size));
    EXPECT_THAT(read_ld_cache(path), IsEmpty()) << "truncated to " << size;
  }
}

// A new-format cache: header, three entries, strings. Offsets in the entries
// count from the start of this header.
std::string NewFormatCache(const std::string& third_value) {
  return "glibc-ld.so.cache"s         // magic
         "1.1"                        // version
         "\x03\0\0\0"s                // nlibs = 3
         "\x3c\0\0\0"s                // len_strings = 60
         "\x02"s                      // flags: little-endian
         "\0\0\0"s                    // padding
         "\0\0\0\0"s                  // extension_offset: none
         "\0\0\0\0\0\0\0\0\0\0\0\0"s  // unused[3]
         // Entry 0: "libfoo.so.1" -> "/lib/libfoo.so.1".
         "\x03\x03\0\0"s      // flags: ELF, x86-64 libc6
         "\x78\0\0\0"s        // key = 120
         "\x84\0\0\0"s        // value = 132
         "\0\0\0\0"s          // osversion
         "\0\0\0\0\0\0\0\0"s  // hwcap
         // Entry 1: "libfoo.so" -> "/lib/libfoo.so.1" again (a dev symlink).
         "\x03\x03\0\0"s      // flags
         "\x95\0\0\0"s        // key = 149
         "\x84\0\0\0"s        // value = 132
         "\0\0\0\0"s          // osversion
         "\0\0\0\0\0\0\0\0"s  // hwcap
         // Entry 2: "libfoo.so" -> whatever third_value points at.
         "\x03\x03\0\0"s      // flags
         "\x95\0\0\0"s +      // key = 149
         third_value +        // value
         "\0\0\0\0"s          // osversion
         "\0\0\0\0\0\0\0\0"s  // hwcap
         // Strings at 120, 132, 149 and 159.
         "libfoo.so.1\0"s
         "/lib/libfoo.so.1\0"s
         "libfoo.so\0"s
         "/usr/lib/libbar.so.2\0"s;
}

TEST(ReadLdCacheTest, NewFormat) {
  if constexpr (std::endian::native != std::endian::little) GTEST_SKIP() << "little-endian bytes";
  TempDir dir;
  const std::string path = dir.path() + "/ld.so.cache";
  std::string cache = NewFormatCache("\x9f\0\0\0"s);  // value 159
  ASSERT_EQ(cache.size(), 180u);
  WriteFile(path, cache);
  EXPECT_THAT(read_ld_cache(path), ElementsAre("/lib/libfoo.so.1", "/usr/lib/libbar.so.2"));
}

TEST(ReadLdCacheTest, OldFormatPrefix) {
  if constexpr (std::endian::native != std::endian::little) GTEST_SKIP() << "little-endian bytes";
  TempDir dir;
  const std::string path = dir.path() + "/ld.so.cache";
  std::string old_part =
      "ld.so-1.7.0"s  // magic
      "\0"s           // padding
      "\x01\0\0\0"s   // nlibs = 1
      "\x01\0\0\0"s   // entry flags (the entry is not read)
      "\0\0\0\0"s     // entry key
      "\0\0\0\0"s     // entry value
      "\0\0\0\0"s;    // padding from 28 to 32 bytes
  ASSERT_EQ(old_part.size(), 32u);
  WriteFile(path, old_part + NewFormatCache("\x9f\0\0\0"s));
  EXPECT_THAT(read_ld_cache(path), ElementsAre("/lib/libfoo.so.1", "/usr/lib/libbar.so.2"));
}

TEST(ReadLdCacheTest, StringOffsetOutOfRangeIsEmpty) {
  TempDir dir;
  const std::string path = dir.path() + "/ld.so.cache";
  WriteFile(path, NewFormatCache("\x00\xff\0\0"s));  // value 0xff00, past the end
  EXPECT_THAT(read_ld_cache(path), IsEmpty());
}

TEST(ReadLdCacheTest, WrongByteOrderIsEmpty) {
  TempDir dir;
  const std::string path = dir.path() + "/ld.so.cache";
  std::string cache = NewFormatCache("\x9f\0\0\0"s);
  cache[28] = std::endian::native == std::endian::little ? '\x03' : '\x02';  // flags
  WriteFile(path, cache);
  EXPECT_THAT(read_ld_cache(path), IsEmpty());
}

// --- Inventory ---

// A fake /proc: PID directories holding a maps file and root -> "/".
class FakeProc {
 public:
  const std::string& root() const { return dir_.path(); }

  void AddProcess(pid_t pid, const std::string& maps) {
    std::string pid_dir = root() + "/" + std::to_string(pid);
    std::filesystem::create_directory(pid_dir);
    std::filesystem::create_directory_symlink("/", pid_dir + "/root");
    WriteFile(pid_dir + "/maps", maps);
  }

 private:
  TempDir dir_;
};

// A maps line mapping `path` executable, with the device and inode given.
std::string MapsLine(const std::string& path, FileId id, const std::string& perms = "r-xp") {
  char line[512];
  snprintf(line, sizeof(line), "7f0000001000-7f0000002000 %s 00001000 %02x:%02x %llu    %s\n",
           perms.c_str(), major(id.dev), minor(id.dev), static_cast<unsigned long long>(id.ino),
           path.c_str());
  return line;
}

std::string MapsLine(const std::string& path) { return MapsLine(path, StatId(path)); }

TEST(InventoryTest, ScanPidFindsLibraryOnceAndAddsLaterPids) {
  const std::string lib = DISCOVERY_FAKE_LIBSSL;
  const FileId lib_id = StatId(lib);
  FakeProc proc;
  proc.AddProcess(100, MapsLine(lib, lib_id, "r--p") + MapsLine(lib) + MapsLine(lib));
  proc.AddProcess(200, MapsLine(lib));
  Inventory inventory(proc.root());

  std::vector<Target*> added = inventory.scan_pid(100);
  ASSERT_EQ(added.size(), 1u);
  const Target& target = *added[0];
  EXPECT_EQ(target.id, lib_id);
  EXPECT_EQ(target.kind, LibKind::kOpenSsl);
  EXPECT_EQ(target.version, "3");
  EXPECT_EQ(target.path, lib);
  EXPECT_EQ(target.open_path, proc.root() + "/100/root" + lib);
  EXPECT_EQ(Offsets(target),
            Offsets(ReadelfFunctions(lib, "dyn-syms"),
                    {"SSL_write", "SSL_read", "SSL_write_ex", "SSL_read_ex", "SSL_free"}));
  EXPECT_THAT(target.pids, UnorderedElementsAre(100));
  ASSERT_EQ(inventory.targets().size(), 1u);
  EXPECT_EQ(&inventory.targets().at(lib_id), added[0]);

  EXPECT_THAT(inventory.scan_pid(200), IsEmpty());
  EXPECT_EQ(inventory.targets().size(), 1u);
  EXPECT_THAT(inventory.targets().at(lib_id).pids, UnorderedElementsAre(100, 200));
  // The pointer handed out earlier still points at the live entry.
  EXPECT_THAT(added[0]->pids, UnorderedElementsAre(100, 200));
  EXPECT_THAT(inventory.failures(), IsEmpty());
}

TEST(InventoryTest, TlstapsOwnProcessIsNotScanned) {
  FakeProc proc;
  proc.AddProcess(getpid(), MapsLine(DISCOVERY_FAKE_LIBSSL));
  Inventory inventory(proc.root());
  EXPECT_THAT(inventory.scan_pid(getpid()), IsEmpty());
  inventory.scan_all();
  EXPECT_FALSE(inventory.targets().contains(StatId(DISCOVERY_FAKE_LIBSSL)));
}

TEST(InventoryTest, SkipsWhatCannotBeProbed) {
  const std::string lib = DISCOVERY_FAKE_LIBSSL;
  const std::string not_tls = DISCOVERY_NOT_TLS;
  FakeProc proc;
  proc.AddProcess(100,
                  // Not executable.
                  MapsLine(lib, StatId(lib), "r--p") +
                      // Deleted.
                      MapsLine(lib + " (deleted)", StatId(lib)) +
                      // Anonymous and pseudo mappings.
                      "7f0000003000-7f0000004000 r-xp 00000000 00:00 0 \n"
                      "7f0000005000-7f0000006000 r-xp 00000000 00:00 0    [vdso]\n" +
                      // An ELF file that is not a TLS library.
                      MapsLine(not_tls));
  Inventory inventory(proc.root());
  EXPECT_THAT(inventory.scan_pid(100), IsEmpty());
  EXPECT_THAT(inventory.targets(), IsEmpty());
  EXPECT_THAT(inventory.failures(), IsEmpty());
}

TEST(InventoryTest, RecordsFilesThatCannotBeInspected) {
  TempDir files;
  const std::string text = files.path() + "/not elf.so";
  WriteFile(text, "plain text\n");
  const FileId missing_id{makedev(0x12, 0x34), 777};
  FakeProc proc;
  proc.AddProcess(100, MapsLine(text) + MapsLine(files.path() + "/gone.so", missing_id));
  Inventory inventory(proc.root());

  EXPECT_THAT(inventory.scan_pid(100), IsEmpty());
  EXPECT_THAT(inventory.targets(), IsEmpty());
  std::map<FileId, std::string> expected = {
      {StatId(text), "cannot inspect " + proc.root() + "/100/root" + text + ": not an ELF file"},
      {missing_id, "cannot inspect " + proc.root() + "/100/root" + files.path() +
                       "/gone.so: No such file or directory"}};
  EXPECT_EQ(inventory.failures(), expected);
}

TEST(InventoryTest, ProcessesWithoutMapsAreSkipped) {
  FakeProc proc;
  // 300 has a directory but no maps file (exited, or hidden from us); 400 has
  // no directory at all.
  std::filesystem::create_directory(proc.root() + "/300");
  Inventory inventory(proc.root());
  EXPECT_THAT(inventory.scan_pid(300), IsEmpty());  // no maps file
  EXPECT_THAT(inventory.scan_pid(400), IsEmpty());  // no directory
  EXPECT_THAT(inventory.targets(), IsEmpty());
  EXPECT_THAT(inventory.failures(), IsEmpty());
}

TEST(InventoryTest, KeysByMapsIdentityWhenStatDisagrees) {
  // Overlay filesystems can show one (dev, inode) in maps and another to
  // stat(); the maps one is the key.
  const std::string lib = DISCOVERY_FAKE_LIBSSL;
  const FileId maps_id{makedev(0, 0x99), 12345};
  FakeProc proc;
  proc.AddProcess(100, MapsLine(lib, maps_id));
  proc.AddProcess(200, MapsLine(lib, maps_id));
  Inventory inventory(proc.root());

  std::vector<Target*> added = inventory.scan_pid(100);
  ASSERT_EQ(added.size(), 1u);
  EXPECT_EQ(added[0]->id, maps_id);
  ASSERT_TRUE(inventory.targets().contains(maps_id));
  EXPECT_FALSE(inventory.targets().contains(StatId(lib)));
  EXPECT_THAT(inventory.scan_pid(200), IsEmpty());
  EXPECT_THAT(inventory.targets().at(maps_id).pids, UnorderedElementsAre(100, 200));
}

TEST(InventoryTest, FileKnownUnderItsStatIdentityIsNotAddedAgain) {
  // Process 100's maps agree with stat(); process 200's show another
  // identity for the same file (as overlayfs can).
  const std::string lib = DISCOVERY_FAKE_LIBSSL;
  const FileId lib_id = StatId(lib);
  FakeProc proc;
  proc.AddProcess(100, MapsLine(lib));
  proc.AddProcess(200, MapsLine(lib, FileId{makedev(0, 0x99), 12345}));
  Inventory inventory(proc.root());

  ASSERT_EQ(inventory.scan_pid(100).size(), 1u);
  EXPECT_THAT(inventory.scan_pid(200), IsEmpty());
  ASSERT_EQ(inventory.targets().size(), 1u);
  EXPECT_THAT(inventory.targets().at(lib_id).pids, UnorderedElementsAre(100, 200));
}

TEST(InventoryTest, ScanPidOnAChildFindsTheLibraryItLoaded) {
  // The real /proc, with real device numbers in maps: a child (tlstap's own
  // process is never scanned) loads the library and waits.
  const std::string lib = DISCOVERY_FAKE_LIBSSL;
  int loaded[2];
  ASSERT_EQ(pipe(loaded), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    char ok = dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL) ? 1 : 0;
    (void)!write(loaded[1], &ok, 1);
    pause();  // until killed
    _exit(0);
  }
  char ok = 0;
  ASSERT_EQ(read(loaded[0], &ok, 1), 1);
  Inventory inventory;
  std::vector<Target*> added = inventory.scan_pid(child);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  close(loaded[0]);
  close(loaded[1]);
  ASSERT_EQ(ok, 1) << "the child could not dlopen " << lib;

  const FileId lib_id = StatId(lib);
  auto found = std::find_if(added.begin(), added.end(),
                            [&](const Target* target) { return target->id == lib_id; });
  ASSERT_NE(found, added.end());
  EXPECT_EQ((*found)->path, lib);
  EXPECT_EQ((*found)->open_path, "/proc/" + std::to_string(child) + "/root" + lib);
  EXPECT_THAT((*found)->pids, UnorderedElementsAre(child));
}

TEST(InventoryTest, ScanAllCoversProcessesAndLinkerCache) {
  const std::string lib = DISCOVERY_FAKE_LIBSSL;
  const FileId lib_id = StatId(lib);
  FakeProc proc;
  proc.AddProcess(100, MapsLine(lib));
  proc.AddProcess(200, MapsLine(lib));
  std::filesystem::create_directory(proc.root() + "/300");   // exited: no maps
  std::filesystem::create_directory(proc.root() + "/self");  // not a PID
  WriteFile(proc.root() + "/uptime", "1.0 1.0\n");
  Inventory inventory(proc.root());

  std::vector<Target*> added = inventory.scan_all();
  std::map<FileId, Target*> by_id;
  for (Target* target : added) {
    EXPECT_TRUE(by_id.emplace(target->id, target).second) << "returned twice: " << target->path;
    EXPECT_EQ(&inventory.targets().at(target->id), target);
  }
  EXPECT_EQ(by_id.size(), inventory.targets().size());

  ASSERT_TRUE(by_id.contains(lib_id));
  EXPECT_THAT(by_id.at(lib_id)->pids, UnorderedElementsAre(100, 200));

  // The system libssl is mapped by no fake process; it comes from the cache.
  const std::string libssl = SystemLibrary("libssl.so.3");
  if (!libssl.empty()) {
    FileId libssl_id = StatId(libssl);
    ASSERT_TRUE(by_id.contains(libssl_id));
    const Target& target = *by_id.at(libssl_id);
    EXPECT_EQ(target.open_path, target.path);
    EXPECT_EQ(StatId(target.path), libssl_id);
    EXPECT_EQ(target.version, "3");
    EXPECT_THAT(target.pids, IsEmpty());
  }

  // Everything is known now: a second scan finds nothing new.
  EXPECT_THAT(inventory.scan_all(), IsEmpty());
}

// libgnutls30 and libgnutls-openssl27 are dependencies of the project
// (scripts/install-deps.sh), like libssl3.
TEST(InspectFileTest, SystemLibgnutls) {
  const std::string path = SystemLibrary("libgnutls.so.30");
  ASSERT_FALSE(path.empty()) << "libgnutls.so.30 is not in the linker cache";
  Result<std::optional<Target>> result = inspect_file(path);
  ASSERT_TRUE(result.has_value()) << result.error().message;
  ASSERT_TRUE(result->has_value());
  const Target& target = **result;
  EXPECT_EQ(target.kind, LibKind::kGnuTls);
  EXPECT_EQ(target.version, "30");
  std::map<std::string, ReadelfSymbol> readelf = ReadelfFunctions(path, "dyn-syms");
  GnuTlsProbePoints points = gnutls_probe_points(target);
  // gnutls_record_send is a tail call of gnutls_record_send2: send2 is probed.
  ASSERT_TRUE(readelf.contains("gnutls_record_send2"));
  EXPECT_EQ(points.send, readelf.at("gnutls_record_send2").file_offset);
  EXPECT_EQ(points.recv, readelf.at("gnutls_record_recv").file_offset);
  EXPECT_EQ(points.recv_seq, readelf.at("gnutls_record_recv_seq").file_offset);
  EXPECT_EQ(points.deinit, readelf.at("gnutls_deinit").file_offset);
}

// The Go peer built three ways by golang-go (tests/CMakeLists.txt): as is,
// stripped of its symbol table (-ldflags='-s -w') and as a PIE.
class InspectGoTest : public ::testing::TestWithParam<const char*> {};

// The version `go version` reports for the toolchain that built the peers.
std::string GoToolchainVersion() {
  std::vector<std::string> f = Fields(RunCommand("'" GO_EXECUTABLE "' version"));
  return f.size() >= 3 && f[2].starts_with("go") ? f[2].substr(2) : "";
}

// Found through .gopclntab whether or not the symbol table is there: the
// offsets are where readelf puts the symbols of the unstripped build (-s -w
// leaves the code where it was), and every return point is a RET (0xc3).
TEST_P(InspectGoTest, CryptoTlsWriteAndReadWithEveryReturnAndWriteKeyLog) {
  const std::string path = std::string(GO_PEER_DIR "/") + GetParam();
  ASSERT_TRUE(std::filesystem::exists(path)) << path << " was not built: is golang-go installed?";
  Result<std::optional<Target>> result = inspect_file(path);
  ASSERT_TRUE(result.has_value()) << result.error().message;
  ASSERT_TRUE(result->has_value());
  const Target& target = **result;
  EXPECT_EQ(target.kind, LibKind::kGo);
  EXPECT_EQ(target.version, GoToolchainVersion());

  const bool pie = std::string_view(GetParam()).ends_with("_pie");
  std::map<std::string, ReadelfSymbol> readelf =
      ReadelfFunctions(std::string(GO_PEER_DIR "/") + (pie ? "tls_go_pie" : "tls_go"), "syms");
  ASSERT_TRUE(readelf.contains("crypto/tls.(*Conn).Write"));
  GoProbePoints points = go_probe_points(target);
  EXPECT_EQ(points.write, readelf.at("crypto/tls.(*Conn).Write").file_offset);
  EXPECT_EQ(points.read, readelf.at("crypto/tls.(*Conn).Read").file_offset);
  EXPECT_THAT(points.write_returns, Not(IsEmpty()));
  EXPECT_THAT(points.read_returns, Not(IsEmpty()));
  // Where tlstap keys reads secrets: found stripped too.
  ASSERT_TRUE(readelf.contains("crypto/tls.(*Config).writeKeyLog"));
  EXPECT_EQ(points.write_key_log, readelf.at("crypto/tls.(*Config).writeKeyLog").file_offset);
  std::ifstream file(path, std::ios::binary);
  for (uint64_t at : points.write_returns) {
    EXPECT_GT(at, *points.write);
    file.seekg(static_cast<std::streamoff>(at));
    EXPECT_EQ(file.get(), 0xc3) << "no RET at file offset " << at;
  }
  for (uint64_t at : points.read_returns) {
    EXPECT_GT(at, *points.read);
    file.seekg(static_cast<std::streamoff>(at));
    EXPECT_EQ(file.get(), 0xc3) << "no RET at file offset " << at;
  }
}

INSTANTIATE_TEST_SUITE_P(Builds, InspectGoTest,
                         ::testing::Values("tls_go", "tls_go_stripped", "tls_go_pie",
                                           "tls_go_nobinfo"));

// Without .go.buildinfo a Go program is still found (through .gopclntab),
// with the version runtime.buildVersion holds: what `go version` would have
// said of the same build.
TEST(InspectGoFileTest, WithoutBuildInfoVersionFromRuntimeBuildVersion) {
  const std::string path = GO_PEER_DIR "/tls_go_nobinfo";
  ASSERT_TRUE(std::filesystem::exists(path)) << path << " was not built";
  ASSERT_THAT(RunCommand("readelf -S -W '" + path + "'"), Not(HasSubstr(".go.buildinfo")));
  Result<std::optional<Target>> result = inspect_file(path);
  ASSERT_TRUE(result.has_value()) << result.error().message;
  ASSERT_TRUE(result->has_value()) << "a Go program without .go.buildinfo was not recognised";
  EXPECT_EQ((*result)->kind, LibKind::kGo);
  EXPECT_EQ((*result)->not_probed, "");
  EXPECT_EQ((*result)->version, GoToolchainVersion());
}

// Neither .go.buildinfo nor a readable runtime.buildVersion (its bytes
// overwritten in a copy): the version is the range of releases the table
// layout belongs to, and the program is probed all the same.
TEST(InspectGoFileTest, VersionFromTableLayoutWhenNothingElseSaysIt) {
  const std::string source = GO_PEER_DIR "/tls_go_nobinfo";
  ASSERT_TRUE(std::filesystem::exists(source)) << source << " was not built";
  TempDir dir;
  const std::string path = dir.path() + "/tls_go_noversion";
  std::ifstream in(source, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string version = "go" + GoToolchainVersion();
  int replaced = 0;
  for (size_t at = bytes.find(version); at != std::string::npos; at = bytes.find(version, at)) {
    bytes.replace(at, 2, "GO");
    ++replaced;
  }
  ASSERT_GT(replaced, 0);
  WriteFile(path, bytes);
  Result<std::optional<Target>> result = inspect_file(path);
  ASSERT_TRUE(result.has_value()) << result.error().message;
  ASSERT_TRUE(result->has_value());
  EXPECT_EQ((*result)->not_probed, "");
  const std::pair<int, int> built = [] {
    int major = 0, minor = 0;
    std::sscanf(GoToolchainVersion().c_str(), "%d.%d", &major, &minor);
    return std::pair(major, minor);
  }();
  EXPECT_EQ((*result)->version, built < std::pair(1, 20) ? "1.18 or 1.19" : "1.20 or later");
  EXPECT_TRUE(go_probe_points(**result).write.has_value());
}

// A Go program without crypto/tls is a Go file with nothing to probe and the
// reason, so --list shows it rather than nothing.
TEST(InspectGoFileTest, GoProgramWithoutCryptoTlsSaysWhy) {
  const std::string path = GO_PEER_DIR "/go_no_tls";
  ASSERT_TRUE(std::filesystem::exists(path)) << path << " was not built";
  Result<std::optional<Target>> result = inspect_file(path);
  ASSERT_TRUE(result.has_value()) << result.error().message;
  ASSERT_TRUE(result->has_value());
  EXPECT_EQ((*result)->kind, LibKind::kGo);
  EXPECT_EQ((*result)->version, GoToolchainVersion());
  EXPECT_THAT((*result)->not_probed, HasSubstr("no crypto/tls"));
  EXPECT_THAT((*result)->symbols, IsEmpty());
}

// A .gopclntab in a layout tlstap does not read (its first word made Go
// 1.16's in a copy) is still a Go program, listed with the reason.
TEST(InspectGoFileTest, OlderTableLayoutIsListedWithTheReason) {
  const std::string source = GO_PEER_DIR "/tls_go_nobinfo";
  ASSERT_TRUE(std::filesystem::exists(source)) << source << " was not built";
  TempDir dir;
  const std::string path = dir.path() + "/tls_go_old";
  std::ifstream in(source, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> f =
      Fields(RunCommand("readelf -S -W '" + source + "' | grep ' .gopclntab '"));
  auto name = std::find(f.begin(), f.end(), ".gopclntab");
  ASSERT_TRUE(name != f.end() && f.end() - name > 3);
  const size_t offset = std::stoul(*(name + 3), nullptr, 16);
  ASSERT_EQ(bytes.substr(offset + 1, 3), "\xff\xff\xff"s);  // 1.18+: f0 or f1 first
  bytes.replace(offset, 4, "\xfa\xff\xff\xff"s);
  WriteFile(path, bytes);
  Result<std::optional<Target>> result = inspect_file(path);
  ASSERT_TRUE(result.has_value()) << result.error().message;
  ASSERT_TRUE(result->has_value());
  EXPECT_EQ((*result)->kind, LibKind::kGo);
  EXPECT_EQ((*result)->version, "1.16 or 1.17");
  EXPECT_THAT((*result)->not_probed, HasSubstr("layout of Go 1.16 or 1.17"));
}

// GnuTLS's OpenSSL compatibility layer defines SSL_write/SSL_read on top of
// gnutls_record_send/recv: its traffic is seen (once) in libgnutls itself.
TEST(InspectFileTest, GnutlsOpensslCompatibilityLayerIsNotATarget) {
  const std::string path = SystemLibrary("libgnutls-openssl.so.27");
  ASSERT_FALSE(path.empty()) << "libgnutls-openssl.so.27 is not in the linker cache";
  ASSERT_TRUE(ReadelfFunctions(path, "dyn-syms").contains("SSL_write"));
  Result<std::optional<Target>> result = inspect_file(path);
  ASSERT_TRUE(result.has_value()) << result.error().message;
  EXPECT_FALSE(result->has_value());
}

// The upstream version of an installed Debian package: "2:4.35-1" -> "4.35".
std::string PackageVersion(const std::string& package) {
  std::string v = RunCommand("dpkg-query -W -f='${Version}' " + package + " 2>/dev/null");
  if (size_t colon = v.find(':'); colon != std::string::npos) v = v.substr(colon + 1);
  return v.substr(0, v.find('-'));
}

// Debian's BoringSSL (android-libboringssl, a dependency in
// scripts/install-deps.sh) lives outside the linker cache, under android/.
constexpr char kAndroidLibssl[] = "/usr/lib/x86_64-linux-gnu/android/libssl.so.0";

// BoringSSL exports SSL_write/SSL_read like OpenSSL, plus functions of its
// own (SSL_CTX_set_custom_verify): it is kind boringssl, probed at the
// exported functions (it has no SSL_write_ex/SSL_read_ex).
TEST(InspectFileTest, AndroidBoringSsl) {
  ASSERT_EQ(access(kAndroidLibssl, R_OK), 0) << kAndroidLibssl << ": install android-libboringssl";
  Result<std::optional<Target>> result = inspect_file(kAndroidLibssl);
  ASSERT_TRUE(result.has_value()) << result.error().message;
  ASSERT_TRUE(result->has_value());
  const Target& target = **result;
  EXPECT_EQ(target.kind, LibKind::kBoringSsl);
  EXPECT_EQ(target.version, "0");
  std::map<std::string, ReadelfSymbol> readelf = ReadelfFunctions(kAndroidLibssl, "dyn-syms");
  ASSERT_TRUE(readelf.contains("SSL_CTX_set_custom_verify"));
  OpenSslProbePoints points = openssl_probe_points(target);
  EXPECT_EQ(points.write, readelf.at("SSL_write").file_offset);
  EXPECT_EQ(points.read, readelf.at("SSL_read").file_offset);
  EXPECT_EQ(points.free, readelf.at("SSL_free").file_offset);
  EXPECT_EQ(points.write_ex, std::nullopt);
  EXPECT_EQ(points.read_ex, std::nullopt);
}

// The same functions without BoringSSL's own: OpenSSL, both the system
// libssl.so.3 and the fixture.
TEST(InspectFileTest, OpenSslIsNotTakenForBoringSsl) {
  for (const std::string& path :
       {SystemLibrary("libssl.so.3"), std::string(DISCOVERY_FAKE_LIBSSL)}) {
    ASSERT_FALSE(path.empty()) << "libssl.so.3 is not in the linker cache";
    Result<std::optional<Target>> result = inspect_file(path);
    ASSERT_TRUE(result.has_value() && result->has_value()) << path;
    EXPECT_EQ((*result)->kind, LibKind::kOpenSsl) << path;
  }
}

// NSS's NSPR (libnspr4, a dependency of libnss3-tools): kind nss, probed at
// PR_Write, PR_Writev, PR_Send, PR_Read, PR_Recv and PR_Close; its version
// read from the library is the package's.
TEST(InspectFileTest, SystemLibnspr) {
  const std::string path = SystemLibrary("libnspr4.so");
  ASSERT_FALSE(path.empty()) << "libnspr4.so is not in the linker cache";
  Result<std::optional<Target>> result = inspect_file(path);
  ASSERT_TRUE(result.has_value()) << result.error().message;
  ASSERT_TRUE(result->has_value());
  const Target& target = **result;
  EXPECT_EQ(target.kind, LibKind::kNss);
  EXPECT_EQ(target.version, "NSPR " + PackageVersion("libnspr4"));
  std::map<std::string, ReadelfSymbol> readelf = ReadelfFunctions(path, "dyn-syms");
  NssProbePoints points = nss_probe_points(target);
  EXPECT_EQ(points.write, readelf.at("PR_Write").file_offset);
  EXPECT_EQ(points.writev, readelf.at("PR_Writev").file_offset);
  EXPECT_EQ(points.send, readelf.at("PR_Send").file_offset);
  EXPECT_EQ(points.read, readelf.at("PR_Read").file_offset);
  EXPECT_EQ(points.recv, readelf.at("PR_Recv").file_offset);
  EXPECT_EQ(points.close, readelf.at("PR_Close").file_offset);
  EXPECT_EQ(points.import_fd, std::nullopt);
}

// NSS's libssl3: kind nss too, probed only at SSL_ImportFD; version "3.87.1"
// as the package has it.
TEST(InspectFileTest, SystemLibssl3) {
  const std::string path = SystemLibrary("libssl3.so");
  ASSERT_FALSE(path.empty()) << "libssl3.so is not in the linker cache";
  Result<std::optional<Target>> result = inspect_file(path);
  ASSERT_TRUE(result.has_value()) << result.error().message;
  ASSERT_TRUE(result->has_value());
  const Target& target = **result;
  EXPECT_EQ(target.kind, LibKind::kNss);
  EXPECT_EQ(target.version, PackageVersion("libnss3"));
  std::map<std::string, ReadelfSymbol> readelf = ReadelfFunctions(path, "dyn-syms");
  NssProbePoints points = nss_probe_points(target);
  EXPECT_EQ(points.import_fd, readelf.at("SSL_ImportFD").file_offset);
  EXPECT_EQ(points.write, std::nullopt);
  EXPECT_EQ(points.read, std::nullopt);
  EXPECT_EQ(points.close, std::nullopt);
}

// libnss3 (certificates, PKCS #11) carries no plaintext of its own.
TEST(InspectFileTest, SystemLibnss3IsNotATarget) {
  const std::string path = SystemLibrary("libnss3.so");
  ASSERT_FALSE(path.empty()) << "libnss3.so is not in the linker cache";
  Result<std::optional<Target>> result = inspect_file(path);
  ASSERT_TRUE(result.has_value()) << result.error().message;
  EXPECT_FALSE(result->has_value());
}

}  // namespace
}  // namespace tlstap::discovery
