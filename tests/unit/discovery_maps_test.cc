// Library kind names, /proc/PID/maps parsing and the runtimes (the JVM)
// tlstap names but does not hook.
#include <gtest/gtest.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "discovery/targets.h"
#include "discovery_oracles.h"

namespace tlstap::discovery {
namespace {

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

}  // namespace
}  // namespace tlstap::discovery
