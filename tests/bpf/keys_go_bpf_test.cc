// tlstap keys and --keylog on Go's crypto/tls (tests/progs/tls_go,
// golang-go), TLS 1.2 and 1.3: secrets read where Go hands them to its own
// key log, (*tls.Config).writeKeyLog, which it calls at every secret whether
// or not the program set a KeyLogWriter. Go 1.19 logs CLIENT_RANDOM for
// TLS 1.2 and four lines for TLS 1.3 (no EXPORTER_SECRET). Both ends traced
// or the server alone, tlstap keys or --keylog beside a capture, and tshark
// decrypting a Go connection with nothing but tlstap's key log.
#include <gtest/gtest.h>
#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <string>

#include "tests/bpf/keys_support.h"
#include "tests/bpf/python_peer.h"
#include "tests/bpf/subprocess.h"
#include "tests/bpf/test_env.h"
#include "tests/bpf/tlstap_session.h"

namespace tlstap::bpf_test {
namespace {

class GoKeysTest : public KeysParamTest<const char*> {
 protected:
  void SetUp() override {
    KeysParamTest::SetUp();
    for (const char* build : {"tls_go", "tls_go_pie"}) {
      ASSERT_TRUE(std::filesystem::exists(GoPeer(build)))
          << GoPeer(build) << " was not built: golang-go is missing (scripts/install-deps.sh)";
    }
  }
  static std::string GoPeer(const char* build) { return std::string(kGoPeerDir) + "/" + build; }
  size_t LinesPerSession() const { return std::string(GetParam()) == "1.3" ? 4 : 1; }
  // A server of this version, build tls_go or tls_go_pie, in exchange mode.
  PeerOptions Server(const char* build) const {
    PeerOptions server = ServerOptions("exchange", cert_);
    server.program = {GoPeer(build)};
    server.tls = GetParam();
    return server;
  }
  // Waits until tap_ has attached to the Go program of pid, which started
  // after it: a handshake before then would go unseen.
  void WaitForAttach(pid_t pid) {
    const std::string said = "pid " + std::to_string(pid) + " (";
    ASSERT_TRUE(tap_.WaitForStderr(
        [&](std::string_view err) { return err.find(said) != std::string_view::npos; }, 30s))
        << "tlstap did not attach to pid " << pid << ":\n"
        << TlstapLines(tap_.Stderr());
  }
  // A Go server, then (once tap_ has attached to it) its client, run to the end.
  void RunPair(const PeerOptions& server, PeerOptions client, PeerPair* pair) {
    pair->server = StartPeer(server);
    ASSERT_TRUE(pair->server->ok()) << pair->server->error();
    ASSERT_NO_FATAL_FAILURE(WaitForListening(*pair->server, &client.port));
    ASSERT_NO_FATAL_FAILURE(WaitForAttach(pair->server->pid()));
    pair->client = StartPeer(client);
    ASSERT_TRUE(pair->client->ok()) << pair->client->error();
    ASSERT_NO_FATAL_FAILURE(WaitForConnected(*pair->client, &pair->client_info));
    ASSERT_NO_FATAL_FAILURE(WaitForConnected(*pair->server, &pair->server_info));
    ASSERT_EQ(pair->client_info.version, std::string("TLSv") + GetParam());
    ASSERT_EQ(pair->client->Wait(60s), 0) << pair->client->Stderr();
    ASSERT_EQ(pair->server->Wait(10s), 0) << pair->server->Stderr();
  }
};

// tlstap keys with both ends traced, each logging its own secrets: one
// file, each line once, equal to what either end logged.
TEST_P(GoKeysTest, BothSidesKeysOnly) {
  PeerOptions server = Server("tls_go");
  server.extra = {"--keylog", dir_ / "server.keys"};
  PeerOptions client = ClientOptions("exchange", server);
  client.extra = {"--keylog", dir_ / "client.keys"};
  const KeysRun run = {.args = {"--comm", "tls_go"},
                       .oracle = dir_ / "client.keys",
                       .other_end = dir_ / "server.keys",
                       .lines_per_session = LinesPerSession()};
  PeerPair pair;
  KeysBeside(run, [&] { RunPair(server, client, &pair); });
}

// A server that sets no KeyLogWriter (tls_go_pie, traced alone) still has
// its secrets written: exactly the lines its untraced client logged. With
// --lib go, tlstap keys starts with no program to hook and waits; the
// server then gets one probe, writeKeyLog's, and no plaintext probes.
TEST_P(GoKeysTest, ServerWithoutKeyLogWriter) {
  PeerOptions server = Server("tls_go_pie");
  PeerOptions client = ClientOptions("exchange", server);
  client.program = {GoPeer("tls_go")};
  client.extra = {"--keylog", dir_ / "client.keys"};
  const KeysRun run = {.args = {"--lib", "go", "--comm", "tls_go_pie"},
                       .oracle = dir_ / "client.keys",
                       .lines_per_session = LinesPerSession(),
                       .verbose = true};
  PeerPair pair;
  if (!KeysBeside(run, [&] { RunPair(server, client, &pair); })) return;
  const std::string said = TlstapLines(tap_.Stderr());  // (-v: without libbpf's log)
  EXPECT_NE(said.find("tlstap: attached 1 probes to " + GoPeer("tls_go_pie") + " (go "),
            std::string::npos)
      << said;
}

// --keylog beside a normal capture: the same key log, and the plaintext of
// both ends still captured whole.
TEST_P(GoKeysTest, BothSidesBesideCapture) {
  PeerOptions server = Server("tls_go");
  server.sizes = {100, 16 << 10};
  server.tag = std::string("gokeys") + GetParam();
  server.extra = {"--keylog", dir_ / "server.keys"};
  PeerOptions client = ClientOptions("exchange", server);
  client.extra = {"--keylog", dir_ / "client.keys"};
  const KeysRun run = {.mode = KeysMode::kBesideCapture,
                       .args = {"--comm", "tls_go"},
                       .oracle = dir_ / "client.keys",
                       .lines_per_session = LinesPerSession()};
  PeerPair pair;
  if (!KeysBeside(run, [&] { RunPair(server, client, &pair); })) return;
  ExpectBothEndsCaptured(pair, server, client);
}

// The point of it all: tshark decrypts the recorded loopback traffic of a
// Go connection with nothing but tlstap's key log (no KeyLogWriter set).
TEST_P(GoKeysTest, TsharkDecryptsWithTheKeyLog) {
  ASSERT_NO_FATAL_FAILURE(tap_.Start(tap_log_, {"--comm", "tls_go"}));
  PeerOptions server_options = Server("tls_go");
  server_options.tag = std::string("tshark") + GetParam();
  std::unique_ptr<Subprocess> server = StartPeer(server_options);
  ASSERT_TRUE(server->ok()) << server->error();
  PeerOptions client_options = ClientOptions("exchange", server_options);
  ASSERT_NO_FATAL_FAILURE(WaitForListening(*server, &client_options.port));
  ASSERT_NO_FATAL_FAILURE(WaitForAttach(server->pid()));
  std::unique_ptr<Subprocess> client;
  std::string decrypted;
  ASSERT_NO_FATAL_FAILURE(DecryptWithKeyLog(
      client_options.port,
      [&] {
        client = StartPeer(client_options);
        ASSERT_TRUE(client->ok()) << client->error();
        ASSERT_EQ(client->Wait(60s), 0) << client->Stderr();
        ASSERT_EQ(server->Wait(10s), 0) << server->Stderr();
      },
      &decrypted));
  EXPECT_NE(decrypted.find(PeerStream(server_options, "c2s")), std::string::npos)
      << NotDecrypted(decrypted);
  EXPECT_NE(decrypted.find(PeerStream(server_options, "s2c")), std::string::npos) << decrypted;
}

INSTANTIATE_TEST_SUITE_P(Versions, GoKeysTest, ::testing::Values("1.2", "1.3"), VersionName);

}  // namespace
}  // namespace tlstap::bpf_test
