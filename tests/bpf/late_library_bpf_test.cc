// Libraries and programs that appear after tlstap started: a program on a
// library tlstap already probes is captured from its first request; a new
// library file is attached when mapped, and the moments before that are
// reported, never silently missing.
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "tests/bpf/proc_inspect.h"
#include "tests/bpf/python_peer.h"
#include "tests/bpf/test_env.h"
#include "tests/bpf/tlstap_session.h"

namespace tlstap::bpf_test {
namespace {

class LateLibraryTest : public BpfTest {};

// Waits until tlstap's stderr contains `text`.
bool StderrShows(const TlstapSession& tap, const std::string& text,
                 std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (tap.Stderr().find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

// A client on its own copy of libssl.so.3: a file (inode) tlstap has never
// seen, outside the linker cache, found only when the client maps it.
class LateCopyTest : public LateLibraryTest {
 protected:
  void SetUp() override {
    LateLibraryTest::SetUp();
    ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir_, &cert_));
    const std::string lib_dir = dir_ / "lib";
    std::filesystem::create_directory(lib_dir);
    copy_ = lib_dir + "/libssl.so.3";
    std::filesystem::copy_file(kSystemLibssl, copy_);
    server_options_ = ServerOptions("exchange", cert_);
    server_options_.sizes = {100, 16 << 10};
    server_options_.tag = "late-library";
    server_ = StartPeer(server_options_);
    ASSERT_TRUE(server_->ok()) << server_->error();
    client_options_ = ClientOptions("exchange", server_options_);
    ASSERT_NO_FATAL_FAILURE(WaitForListening(*server_, &client_options_.port));
    // The client's pid before it runs, so the capture can be limited to it
    // (other programs on the host use TLS too); python starts, and maps the
    // copy, only once tlstap is capturing.
    client_options_.prefix = HeldCommand({}).argv;
    client_options_.env = {"LD_LIBRARY_PATH=" + lib_dir};
  }

  // The line tlstap prints when it attached to the copy for this client.
  std::string Notice(pid_t pid) const {
    return "tlstap: pid " + std::to_string(pid) + " (python3) loaded " + copy_ +
           " while tlstap ran; probes were in place ";
  }

  TempDir dir_;
  Certificate cert_;
  std::string copy_;
  PeerOptions server_options_, client_options_;
  std::unique_ptr<Subprocess> server_;
};

// Once tlstap says it attached, every byte is captured, from the first.
TEST_F(LateCopyTest, CapturedFromFirstRequestOnceAttached) {
  client_options_.wait_go = true;  // handshake, then wait: no TLS data yet
  auto client = StartPeer(client_options_);
  ASSERT_TRUE(client->ok()) << client->error();
  TlstapSession tap;
  ASSERT_NO_FATAL_FAILURE(tap.Start({"--pid", std::to_string(client->pid())}));
  ASSERT_TRUE(client->Write("go\n", 5s));
  PeerInfo info;
  ASSERT_NO_FATAL_FAILURE(WaitForConnected(*client, &info));
  ASSERT_EQ(info.pid, client->pid());
  ASSERT_EQ(info.libssl, std::vector<std::string>{copy_}) << "the client must run on the copy";
  ASSERT_TRUE(StderrShows(tap, Notice(info.pid), 10s)) << tap.Stderr();
  ASSERT_TRUE(client->Write("go\n", 5s));  // now the exchange
  ASSERT_EQ(client->Wait(30s), 0) << client->Stderr();
  ASSERT_EQ(server_->Wait(10s), 0) << server_->Stderr();

  Capture capture;
  ASSERT_NO_FATAL_FAILURE(tap.Stop(&capture));
  const Endpoint client_end{info.pid, "python3", info.fd, info.laddr, info.raddr};
  std::vector<const DataEvent*> tx = capture.Of(info.pid, "tx");
  ASSERT_FALSE(tx.empty()) << "nothing from the client; tlstap stderr:\n" << capture.stderr_text;
  EXPECT_EQ(tx.front()->stream_pos, 0u) << Describe(tx);
  EXPECT_TRUE(SameBytes(tx.front()->data, Payload("late-library/c2s/100", 100)))
      << "the first event must be the client's first request (100 B); " << Describe(tx);
  ExpectStream(capture, client_end, "tx", PeerStream(server_options_, "c2s"));
  ExpectStream(capture, client_end, "rx", PeerStream(server_options_, "s2c"));
  ExpectNoLoss(capture);
  ASSERT_NE(capture.final_stats(), nullptr);
  EXPECT_EQ((*capture.final_stats())["late_attaches"], 1);
}

// A client that goes straight on may make TLS calls before the probes are
// in place (attaching to a new file takes the kernel ~20 ms here). tlstap
// cannot know whether it did, so it must say so, and what it did capture
// must be exact.
TEST_F(LateCopyTest, AttachWindowIsReportedNotSilent) {
  auto client = StartPeer(client_options_);
  ASSERT_TRUE(client->ok()) << client->error();
  TlstapSession tap;
  ASSERT_NO_FATAL_FAILURE(tap.Start({"--pid", std::to_string(client->pid())}));
  ASSERT_TRUE(client->Write("go\n", 5s));
  PeerInfo info;
  ASSERT_NO_FATAL_FAILURE(WaitForConnected(*client, &info));
  ASSERT_EQ(client->Wait(30s), 0) << client->Stderr();
  ASSERT_EQ(server_->Wait(10s), 0) << server_->Stderr();

  Capture capture;
  ASSERT_NO_FATAL_FAILURE(tap.Stop(&capture));
  EXPECT_NE(capture.stderr_text.find(Notice(info.pid)), std::string::npos) << capture.stderr_text;
  ASSERT_NE(capture.final_stats(), nullptr);
  EXPECT_EQ((*capture.final_stats())["late_attaches"], 1);
  // Whatever was captured sits exactly where it belongs in the stream.
  const std::string expected = PeerStream(server_options_, "c2s");
  for (const DataEvent* e : capture.Of(info.pid, "tx")) {
    ASSERT_LE(e->stream_pos + e->data.size(), expected.size()) << Describe(*e);
  }
  ExpectNoLoss(capture);
}

TEST_F(LateLibraryTest, CurlStartedAfterTlstapFirstRequestCaptured) {
  TempDir dir;
  Certificate cert;
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
  ASSERT_NO_FATAL_FAILURE(WriteFile(dir / "index", "hello\n"));

  TlstapSession tap;
  ASSERT_NO_FATAL_FAILURE(tap.Start({"--comm", "curl"}));

  const int port = FreeTcpPort();
  const std::string server_addr = HostPort("127.0.0.1", port);
  SpawnOptions server_options =
      Command({kOpenssl, "s_server", "-accept", server_addr, "-cert", cert.cert, "-key", cert.key,
               "-naccept", "1", "-quiet", "-WWW"});
  server_options.cwd = dir.path();
  server_options.stdin_pipe = false;
  Subprocess server(server_options);
  ASSERT_TRUE(WaitForListen(port, 10s)) << server.Stderr();
  SpawnOptions curl_options = Command(
      {kCurl, "-sSk", "-A", "first", "-o", "/dev/null", "https://" + server_addr + "/index"});
  curl_options.stdin_pipe = false;
  Subprocess curl(curl_options);
  ASSERT_EQ(curl.Wait(30s), 0) << curl.Stderr();
  server.Wait(10s);

  Capture capture;
  ASSERT_NO_FATAL_FAILURE(tap.Stop(&capture));
  std::vector<const DataEvent*> tx = capture.Of(curl.pid(), "tx");
  ASSERT_FALSE(tx.empty()) << "no event from curl among " << capture.events.size();
  EXPECT_EQ(tx.front()->stream_pos, 0u);
  EXPECT_TRUE(SameBytes(tx.front()->data, "GET /index HTTP/1.1\r\nHost: " + server_addr +
                                              "\r\nUser-Agent: first\r\nAccept: */*\r\n\r\n"))
      << Describe(tx);
}

}  // namespace
}  // namespace tlstap::bpf_test
