// inspect_file on the ELF fixtures and the system's TLS libraries (OpenSSL,
// GnuTLS, BoringSSL, NSS), checked against readelf and objdump.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "discovery/targets.h"
#include "discovery_oracles.h"

namespace tlstap::discovery {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr uint64_t kFakeLibsslBase = 0x200000;  // -Ttext-segment in tests/unit/CMakeLists.txt

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
