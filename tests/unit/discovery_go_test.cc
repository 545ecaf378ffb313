// inspect_file on Go programs: the peers built with and without symbols,
// as a PIE and without .go.buildinfo, and copies with bytes altered.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "discovery/targets.h"
#include "discovery_oracles.h"

namespace tlstap::discovery {
namespace {

using namespace std::string_literals;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

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

}  // namespace
}  // namespace tlstap::discovery
