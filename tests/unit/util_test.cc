#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstring>
#include <string>

#include "util/process_memory.h"

namespace tlstap {
namespace {

// The label constant of a Go program the probe could not read is read
// from the process: a page it never touched, in a process that is not us.
TEST(ReadProcessMemory, ReadsAnotherProcessPageItNeverTouched) {
  const long page = sysconf(_SC_PAGESIZE);
  void* mem = mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  const uint64_t addr = reinterpret_cast<uintptr_t>(mem) + 100;
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Untouched until now in this process: written after fork, so the
    // page is the child's own.
    std::memcpy(reinterpret_cast<char*>(addr), "CLIENT_HANDSHAKE_TRAFFIC_SECRET", 31);
    char c = 1;
    (void)!write(ready[1], &c, 1);
    pause();
    _exit(0);
  }
  char c;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  auto got = read_process_memory(child, addr, 31);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  ASSERT_TRUE(got.has_value()) << got.error().message;
  EXPECT_EQ(*got, "CLIENT_HANDSHAKE_TRAFFIC_SECRET");
  // Not written in this process: the parent's page is still zero.
  EXPECT_EQ(reinterpret_cast<const char*>(addr)[0], '\0');

  auto gone = read_process_memory(child, addr, 31);
  ASSERT_FALSE(gone.has_value());
  EXPECT_NE(gone.error().message.find("pid " + std::to_string(child)), std::string::npos)
      << gone.error().message;
  munmap(mem, page);
  close(ready[0]);
  close(ready[1]);
}

TEST(ReadProcessMemory, UnmappedAddressIsAnError) {
  auto got = read_process_memory(getpid(), 8, 16);
  ASSERT_FALSE(got.has_value());
  EXPECT_NE(got.error().message.find("Bad address"), std::string::npos) << got.error().message;
}

}  // namespace
}  // namespace tlstap
