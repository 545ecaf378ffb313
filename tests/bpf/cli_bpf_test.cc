// The real binary's command line and outputs as a user meets them: what it
// refuses, and how it ends when an output fails, each said in one line with
// its exit status.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <future>
#include <string>
#include <thread>
#include <vector>

#include "tests/bpf/nginx_server.h"
#include "tests/bpf/subprocess.h"
#include "tests/bpf/test_env.h"

namespace tlstap::bpf_test {
namespace {

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;
constexpr std::string_view kReady = "tlstap: capturing from ";

class CliTest : public BpfTest {};

// An nginx serving one 400 kB file, for traffic that fills an output.
class OutputFailureTest : public BpfTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(BpfTest::SetUp());
    ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir_, &cert_));
    ASSERT_EQ(mkdir((dir_ / "www").c_str(), 0755), 0);
    ASSERT_NO_FATAL_FAILURE(WriteFile(dir_ / "www/big.txt", Payload("cli/full", 400000)));
    ASSERT_NO_FATAL_FAILURE(nginx_.Start(
        dir_, cert_, {.root = dir_ / "www", .lines = {"location / { }"}, .http_lines = {}}));
  }
  void Fetch() {
    RunResult curl = RunToEnd(
        Command({kCurl, "-sS", "--http1.1", "-k", "-o", "/dev/null", nginx_.Url("/big.txt")}), 30s);
    EXPECT_EQ(curl.status, 0) << curl.err;
  }
  // Starts argv (a tlstap, or a shell running one), waits for its ready
  // line on stderr, fetches the file with curl, and waits for it to stop by
  // itself.
  void RunUntilItStops(const std::vector<std::string>& argv, std::optional<int>* status,
                       std::string* err) {
    SpawnOptions options = Command(argv);
    options.stdin_pipe = false;
    Subprocess tap(options);
    ASSERT_TRUE(tap.WaitForStderr(
        [](std::string_view e) { return e.find(kReady) != std::string_view::npos; }, 120s))
        << tap.Stderr();
    Fetch();
    *status = tap.Wait(30s);
    *err = tap.Stderr();
    ASSERT_TRUE(status->has_value()) << "tlstap did not stop by itself:\n" << *err;
  }

  TempDir dir_;
  Certificate cert_;
  NginxServer nginx_;
};

// Each output tlstap writes to a path, pointed at a file that another user
// (nobody) made, readable and writable by all, in a directory anyone may
// write, and held open: refused in one line (usage exit code), the file
// left as it was: its owner would read through it all tlstap writes. So is
// a named pipe of that user's.
TEST_F(CliTest, OutputOfAnotherUserIsRefused) {
  TempDir dir;
  const std::string shared = dir / "shared";
  ASSERT_EQ(mkdir(shared.c_str(), 0777), 0);
  ASSERT_EQ(chmod(shared.c_str(), 0777), 0);
  struct Case {
    std::vector<std::string> args;  // the path is appended
    std::string name;
  };
  for (const Case& c : std::vector<Case>{{{"--json", "-w"}, "pre.jsonl"},
                                         {{"-w"}, "pre.pcapng"},
                                         {{"keys", "-w"}, "pre.keys"},
                                         {{"--json", "-w", "/dev/null", "--keylog"}, "pre.log"},
                                         {{"-w"}, "fifo.jsonl"}}) {
    SCOPED_TRACE(c.name);
    const std::string path = shared + "/" + c.name;
    const bool fifo = c.name.starts_with("fifo");
    ASSERT_EQ(fifo ? mkfifo(path.c_str(), 0666) : 0, 0);
    if (!fifo) {
      ASSERT_NO_FATAL_FAILURE(WriteFile(path, "nobody's\n"));
    }
    ASSERT_EQ(chmod(path.c_str(), 0666), 0);
    ASSERT_EQ(chown(path.c_str(), kNobody, kNogroup), 0);
    // nobody keeps it open (a FIFO: for reading, as its reader would)
    int held = open(path.c_str(), (fifo ? O_RDONLY | O_NONBLOCK : O_RDWR) | O_CLOEXEC);
    ASSERT_GE(held, 0);
    std::vector<std::string> argv = {kTlstap};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    argv.push_back(path);
    RunResult r = RunToEnd(Command(argv), 60s);
    ASSERT_TRUE(r.status.has_value()) << "tlstap is still running: " << r.err;
    EXPECT_EQ(*r.status, 2) << r.err;
    EXPECT_EQ(r.err, "tlstap: cannot write " + path + ": the " + (fifo ? "named pipe" : "file") +
                         " belongs to nobody (uid 65534), who could read what tlstap writes; "
                         "remove it or choose another name\n");
    struct stat st {};
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, kNobody);
    EXPECT_EQ(st.st_mode & 07777, 0666u);
    if (!fifo) {
      EXPECT_EQ(ReadFile(path), "nobody's\n");
    }
    char buf[64];
    EXPECT_LE(read(held, buf, sizeof(buf)), fifo ? 0 : 9);
    close(held);
  }
}

// -w FILE on a full file system: tlstap stops with one line that names the
// file and the cause, exits 1, and its statistics (on stderr) count the
// events it could not write: "lost: nothing" would be false.
TEST_F(OutputFailureTest, FullDiskIsAFailureAndItsEventsAreCountedLost) {
  const std::string small = dir_ / "small";
  SmallTmpfs tmpfs;  // unmounted however the test ends (tlstap is gone by then)
  ASSERT_NO_FATAL_FAILURE(tmpfs.Mount(small, "128k"));
  const std::string out = small + "/out.jsonl";
  std::optional<int> status;
  std::string err;
  ASSERT_NO_FATAL_FAILURE(RunUntilItStops({kTlstap, "-w", out, "--comm", "curl"}, &status, &err));
  EXPECT_EQ(status, 1) << err;
  EXPECT_NE(err.find("tlstap: cannot write " + out + ": No space left on device; stopping\n"),
            std::string::npos)
      << err;
  EXPECT_EQ(err.find("lost: nothing"), std::string::npos) << err;
  EXPECT_NE(err.find(" never written (the output failed)"), std::string::npos) << err;
}

// -w /dev/full: the same, for a device.
TEST_F(OutputFailureTest, DevFullIsAFailure) {
  std::optional<int> status;
  std::string err;
  ASSERT_NO_FATAL_FAILURE(
      RunUntilItStops({kTlstap, "-w", "/dev/full", "--comm", "curl"}, &status, &err));
  EXPECT_EQ(status, 1) << err;
  EXPECT_NE(err.find("tlstap: cannot write /dev/full: No space left on device; stopping\n"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find(" never written (the output failed)"), std::string::npos) << err;
}

// A reader that goes away (| head) is a normal stop: exit 0, said in one line.
TEST_F(OutputFailureTest, ReaderGoneIsANormalStop) {
  std::optional<int> status;
  std::string err;
  ASSERT_NO_FATAL_FAILURE(RunUntilItStops(
      {"/bin/bash", "-c",
       "\"$0\" --json --comm curl | head -c 100 >/dev/null; echo \"status ${PIPESTATUS[0]}\" >&2",
       kTlstap},
      &status, &err));
  EXPECT_EQ(status, 0) << err;
  EXPECT_NE(err.find("tlstap: the reader of standard output went away; stopping\n"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("status 0\n"), std::string::npos) << err;
}

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
