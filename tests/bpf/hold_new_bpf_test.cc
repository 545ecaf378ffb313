// --hold-new: a program started while tlstap runs is stopped at its exec
// until its probes are in place, so its very first TLS call is captured;
// and nothing stays stopped because of tlstap: a process held longer than
// the limit goes on, and every held process goes on when tlstap is killed.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/bpf/python_peer.h"
#include "tests/bpf/test_env.h"
#include "tests/bpf/tlstap_session.h"

namespace tlstap::bpf_test {
namespace {

// The state letter of /proc/PID/stat ('T': stopped), or 0 when gone.
char ProcessState(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return 0;
  size_t paren = line.rfind(')');
  return paren + 2 < line.size() ? line[paren + 2] : 0;
}

class HoldNewTest : public BpfTest {
 protected:
  // A tlstap with --hold-new=limit_ms, then stopped (as if stuck), then a
  // fresh copy of /bin/true named name started: the probes hold it and
  // nobody in tlstap can continue it.
  void StartHeldByStoppedTlstap(const std::string& name, int limit_ms) {
    program_ = dir_ / name;
    std::filesystem::copy_file("/bin/true", program_);
    ASSERT_NO_FATAL_FAILURE(tap_.Start({"--hold-new=" + std::to_string(limit_ms), "--comm", name}));
    ASSERT_EQ(kill(tap_.pid(), SIGSTOP), 0);
    started_ = std::chrono::steady_clock::now();
    run_ = std::make_unique<Subprocess>(Command({program_}));
    ASSERT_TRUE(run_->ok()) << run_->error();
  }

  TempDir dir_;
  std::string program_;
  TlstapSession tap_;
  std::unique_ptr<Subprocess> run_;
  std::chrono::steady_clock::time_point started_;
};

// Three fresh copies of the stripped Go peer (new inodes: files tlstap has
// never seen), each a client that writes as soon as its handshake is done:
// every first request is there, byte for byte, and each client was held.
TEST_F(HoldNewTest, ProgramStartedAfterTlstapCapturedFromItsFirstWrite) {
  const std::string built = std::string(kGoPeerDir) + "/tls_go_stripped";
  ASSERT_TRUE(std::filesystem::exists(built)) << built << " was not built: golang-go missing";
  TempDir dir;
  Certificate cert;
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
  TlstapSession tap;
  ASSERT_NO_FATAL_FAILURE(tap.Start({"--hold-new", "-v", "--comm", "tls_go_held"}));

  std::vector<std::pair<Endpoint, std::string>> expected;  // each client's first write
  for (int run = 0; run < 3; ++run) {
    SCOPED_TRACE("run " + std::to_string(run));
    TempDir copy_dir;
    const std::string program = copy_dir / "tls_go_held";
    std::filesystem::copy_file(built, program);
    PeerOptions server_options = ServerOptions("exchange", cert);  // Python's ssl: not traced
    server_options.sizes = {100};
    server_options.tag = "held-" + std::to_string(run);
    PeerOptions client_options = ClientOptions("exchange", server_options);
    client_options.program = {program};
    PeerPair peers;
    ASSERT_NO_FATAL_FAILURE(StartPair(server_options, client_options, &peers));
    ASSERT_EQ(peers.client->Wait(60s), 0) << peers.client->Stderr();
    ASSERT_EQ(peers.server->Wait(10s), 0) << peers.server->Stderr();
    const pid_t client = peers.client_info.pid;
    ASSERT_TRUE(tap.WaitForStderr(
        [&](std::string_view err) {
          return err.find("pid " + std::to_string(client) + " (tls_go_held) held for ") !=
                 std::string_view::npos;
        },
        10s))
        << "the client was not held:\n"
        << tap.Stderr();
    const PeerInfo& c = peers.client_info;
    expected.push_back({Endpoint{client, "tls_go_held", c.fd, c.laddr, c.raddr, "go"},
                        PeerStream(server_options, "c2s")});
  }
  Capture capture;
  ASSERT_NO_FATAL_FAILURE(tap.Stop(&capture));
  for (const auto& [client, upstream] : expected) ExpectStream(capture, client, "tx", upstream);
  EXPECT_NE(tap.Stderr().find("0 continued by the limit"), std::string::npos) << tap.Stderr();
  EXPECT_EQ(tap.Stderr().find("are not shown"), std::string::npos)
      << "a held program reported as possibly missed:\n"
      << tap.Stderr();
  ExpectNoLoss(capture);
}

// tlstap stopped (as if stuck): a new program is held by the probes, and
// the watchdog continues it at the limit (300 ms); tlstap, continued, says
// the program went on before its probes were in place.
TEST_F(HoldNewTest, ProgramHeldPastTheLimitGoesOn) {
  ASSERT_NO_FATAL_FAILURE(StartHeldByStoppedTlstap("true_held", 300));
  std::optional<int> status = run_->Wait(10s);
  const auto took = std::chrono::steady_clock::now() - started_;
  ASSERT_EQ(kill(tap_.pid(), SIGCONT), 0);
  ASSERT_EQ(status, 0) << "the held program did not go on";
  EXPECT_GE(took, 250ms) << "the program was not held";
  EXPECT_LT(took, 5s);
  const std::string line =
      "pid " + std::to_string(run_->pid()) + " (true_held) was held past the --hold-new limit";
  EXPECT_TRUE(tap_.WaitForStderr(
      [&](std::string_view err) { return err.find(line) != std::string_view::npos; }, 10s))
      << tap_.Stderr();
  Capture capture;
  ASSERT_NO_FATAL_FAILURE(tap_.Stop(&capture));
}

// tlstap killed (SIGKILL, nothing of it runs) while a program is held with
// a 60 s limit: the watchdog continues it at once, then exits.
TEST_F(HoldNewTest, KilledTlstapLeavesNothingStopped) {
  ASSERT_NO_FATAL_FAILURE(StartHeldByStoppedTlstap("true_killed", 60000));
  bool stopped = false;
  for (int i = 0; i < 100 && !stopped; ++i) {
    stopped = ProcessState(run_->pid()) == 'T';
    if (!stopped) std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(stopped) << "the program was not held";
  ASSERT_EQ(kill(tap_.pid(), SIGKILL), 0);
  EXPECT_EQ(run_->Wait(5s), 0) << "the program stayed stopped after tlstap was killed";
  // The watchdog is gone too.
  bool watchdog = true;
  for (int i = 0; i < 50 && watchdog; ++i) {
    watchdog = false;
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
      std::ifstream comm(entry.path() / "comm");
      std::string name;
      if (comm >> name && name == "tlstap-hold") watchdog = true;
    }
    if (watchdog) std::this_thread::sleep_for(100ms);
  }
  EXPECT_FALSE(watchdog) << "tlstap-hold still runs 5 s after tlstap was killed";
}

}  // namespace
}  // namespace tlstap::bpf_test
