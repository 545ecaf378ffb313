// The real binary's command line and outputs as a user meets them: what it
// refuses, and how it ends when an output fails, each said in one line with
// its exit status.
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <future>
#include <string>
#include <thread>
#include <vector>

#include "tests/bpf/subprocess.h"
#include "tests/bpf/test_env.h"

namespace tlstap::bpf_test {
namespace {

class CliTest : public BpfTest {};

// --pid of a process that is not running (strace -p says "No such
// process"), or of one of a process's threads: one line, usage exit code,
// nothing attached; never a capture that waits for a match in silence.
TEST_F(CliTest, PidNotRunningIsRefused) {
  Subprocess gone(Command({"/bin/true"}));
  ASSERT_TRUE(gone.ok()) << gone.error();
  const pid_t pid = gone.pid();
  ASSERT_EQ(gone.Wait(10s), 0);  // reaped: the pid is free

  RunResult r = RunToEnd(Command({kTlstap, "--json", "--pid", std::to_string(pid)}), 60s);
  ASSERT_TRUE(r.status.has_value()) << "tlstap is still running: " << r.err;
  EXPECT_EQ(*r.status, 2) << r.err;
  EXPECT_EQ(r.err, "tlstap: --pid " + std::to_string(pid) + ": no such process\n");
  EXPECT_EQ(r.out, "");

  // A thread of this test: its id opens /proc/TID, yet no event carries it as a process id.
  std::promise<pid_t> tid;
  std::promise<void> release;
  std::thread thread([&] {
    tid.set_value(static_cast<pid_t>(syscall(SYS_gettid)));
    release.get_future().wait();
  });
  const pid_t thread_id = tid.get_future().get();
  RunResult t = RunToEnd(
      Command({kTlstap, "-p", std::to_string(getpid()), "-p", std::to_string(thread_id)}), 60s);
  release.set_value();
  thread.join();
  ASSERT_TRUE(t.status.has_value()) << "tlstap is still running: " << t.err;
  EXPECT_EQ(*t.status, 2) << t.err;
  EXPECT_EQ(t.err, "tlstap: --pid " + std::to_string(thread_id) + ": a thread of process " +
                       std::to_string(getpid()) + "; --pid takes a process id\n");
}

}  // namespace
}  // namespace tlstap::bpf_test
