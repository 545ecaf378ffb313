// read_ld_cache on /etc/ld.so.cache (against ldconfig -p) and on caches
// written byte by byte: both formats, truncated, garbage, wrong byte order.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <bit>
#include <cstddef>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "discovery/targets.h"
#include "discovery_oracles.h"

namespace tlstap::discovery {
namespace {

using namespace std::string_literals;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

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

}  // namespace
}  // namespace tlstap::discovery
