// Libraries and programs that appear after tlstap started: their first
// request is captured, not just what follows once tlstap caught up.
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/bpf/proc_inspect.h"
#include "tests/bpf/python_peer.h"
#include "tests/bpf/test_env.h"
#include "tests/bpf/tlstap_session.h"

namespace tlstap::bpf_test {
namespace {

class LateLibraryTest : public BpfTest {};

// A copy of libssl.so.3 in a fresh directory is a new inode, in no process
// and not in the linker cache when tlstap starts: tlstap can only see the
// client's traffic if it attaches to the copy when the client maps it.
TEST_F(LateLibraryTest, CopyOfLibsslLoadedAfterStartFirstRequestCaptured) {
  TempDir dir;
  Certificate cert;
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
  const std::string lib_dir = dir / "lib";
  std::filesystem::create_directory(lib_dir);
  const std::string copy = lib_dir + "/libssl.so.3";
  std::filesystem::copy_file(kSystemLibssl, copy);

  PeerOptions server_options = ServerOptions("exchange", cert);
  server_options.sizes = {100, 16 << 10};
  server_options.tag = "late-library";
  auto server = StartPeer(server_options);
  ASSERT_TRUE(server->ok()) << server->error();
  PeerOptions client_options = ClientOptions("exchange", server_options);
  ASSERT_NO_FATAL_FAILURE(WaitForListening(*server, &client_options.port));
  // The client's pid before it runs, so the capture can be limited to it
  // (other programs on the host use TLS too); python starts, and maps the
  // copy, only once tlstap is capturing.
  client_options.prefix = HeldCommand({}).argv;
  client_options.env = {"LD_LIBRARY_PATH=" + lib_dir};
  auto client = StartPeer(client_options);
  ASSERT_TRUE(client->ok()) << client->error();
  TlstapSession tap;
  ASSERT_NO_FATAL_FAILURE(tap.Start({"--pid", std::to_string(client->pid())}));
  ASSERT_TRUE(client->Write("go\n", 5s));
  PeerInfo info;
  ASSERT_NO_FATAL_FAILURE(WaitForConnected(*client, &info));
  ASSERT_EQ(info.pid, client->pid());
  ASSERT_EQ(info.libssl, std::vector<std::string>{copy}) << "the client must run on the copy alone";
  ASSERT_EQ(client->Wait(30s), 0) << client->Stderr();
  ASSERT_EQ(server->Wait(10s), 0) << server->Stderr();

  Capture capture;
  ASSERT_NO_FATAL_FAILURE(tap.Stop(&capture));

  const Endpoint client_end{info.pid, "python3", info.fd, info.laddr, info.raddr};
  std::vector<const DataEvent*> tx = capture.Of(info.pid, "tx");
  ASSERT_FALSE(tx.empty()) << "nothing from the client: tlstap did not attach to " << copy
                           << "; tlstap stderr:\n"
                           << capture.stderr_text;
  // The first request, from its first byte: stream position 0, 100 bytes.
  EXPECT_EQ(tx.front()->stream_pos, 0u) << Describe(tx);
  EXPECT_TRUE(SameBytes(tx.front()->data, Payload("late-library/c2s/100", 100)))
      << "the first event must be the client's first request (100 B); " << Describe(tx);
  ExpectStream(capture, client_end, "tx", PeerStream(server_options, "c2s"));
  ExpectStream(capture, client_end, "rx", PeerStream(server_options, "s2c"));
  ExpectNoLoss(capture);
}

// curl started after tlstap (its libssl is the system one, attached at
// start): its first request is there, whole.
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
