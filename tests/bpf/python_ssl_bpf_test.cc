// Python's ssl module (SSL_write_ex/SSL_read_ex on the system libssl.so.3),
// tests/progs/tls_peer.py on both ends of one connection.
#include <gtest/gtest.h>

#include "tests/bpf/python_peer.h"
#include "tests/bpf/test_env.h"
#include "tests/bpf/tlstap_session.h"

namespace tlstap::bpf_test {
namespace {

// The peers take this command name, so --comm keeps other Python programs
// on the host out of the capture.
constexpr char kComm[] = "tlstap-peer";

struct PythonCase {
  const char* tls;
  const char* host;
};

class PythonSslTest : public BpfTest, public ::testing::WithParamInterface<PythonCase> {};

// 1 B, 100 B, 16 KiB and 1 MiB each way, each payload one sendall(): the
// streams are exact, and each sendall is exactly one event, the 1 MiB one
// reassembled from the kernel's chunks.
TEST_P(PythonSslTest, ExchangeExactlyOnce) {
  const PythonCase& c = GetParam();
  TempDir dir;
  Certificate cert;
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
  TlstapSession tap;
  ASSERT_NO_FATAL_FAILURE(tap.Start({"--comm", kComm}));

  PeerOptions server_options = ServerOptions("exchange", cert);
  server_options.host = c.host;
  server_options.tls = c.tls;
  server_options.sizes = {1, 100, 16 << 10, 1 << 20};
  server_options.tag = std::string("python") + c.tls;
  server_options.comm = kComm;
  PeerPair peers;
  ASSERT_NO_FATAL_FAILURE(
      StartPair(server_options, ClientOptions("exchange", server_options), &peers));
  const PeerInfo& client_info = peers.client_info;
  const PeerInfo& server_info = peers.server_info;
  ASSERT_EQ(client_info.version, std::string("TLSv") + c.tls);
  ASSERT_EQ(peers.client->Wait(60s), 0) << peers.client->Stderr();
  ASSERT_EQ(peers.server->Wait(10s), 0) << peers.server->Stderr();

  Capture capture;
  ASSERT_NO_FATAL_FAILURE(tap.Stop(&capture));

  const std::string upstream = PeerStream(server_options, "c2s");
  const std::string downstream = PeerStream(server_options, "s2c");
  const Endpoint client_end{client_info.pid, kComm, client_info.fd, client_info.laddr,
                            client_info.raddr};
  const Endpoint server_end{server_info.pid, kComm, server_info.fd, server_info.laddr,
                            server_info.raddr};
  ExpectStream(capture, client_end, "tx", upstream);
  ExpectStream(capture, server_end, "rx", upstream);
  ExpectStream(capture, server_end, "tx", downstream);
  ExpectStream(capture, client_end, "rx", downstream);

  // One SSL_write_ex per sendall(), on each side: one event each, whole.
  for (const PeerInfo* peer : {&client_info, &server_info}) {
    std::vector<const DataEvent*> tx = capture.Of(peer->pid, "tx");
    std::vector<uint64_t> lens;
    for (const DataEvent* e : tx) lens.push_back(e->len);
    EXPECT_EQ(lens, (std::vector<uint64_t>{1, 100, 16 << 10, 1 << 20}))
        << "pid " << peer->pid << ": " << Describe(tx);
    if (lens.size() == 4) {
      const DataEvent& big = *tx[3];
      EXPECT_EQ(big.len, 1u << 20);
      EXPECT_EQ(big.captured, 1u << 20);
      EXPECT_TRUE(big.lost.is_null()) << Describe(big);
      std::string tag = server_options.tag + (peer == &client_info ? "/c2s/" : "/s2c/");
      EXPECT_TRUE(SameBytes(big.data, Payload(tag + std::to_string(1 << 20), 1 << 20)));
    }
  }
  ExpectNoLoss(capture);
}

std::string CaseName(const ::testing::TestParamInfo<PythonCase>& info) {
  return std::string("tls") + (info.param.tls[2] == '2' ? "1_2" : "1_3") + "_" +
         (std::string(info.param.host).find(':') == std::string::npos ? "ipv4" : "ipv6");
}

INSTANTIATE_TEST_SUITE_P(Versions, PythonSslTest,
                         ::testing::Values(PythonCase{"1.2", "127.0.0.1"},
                                           PythonCase{"1.3", "127.0.0.1"},
                                           PythonCase{"1.3", "::1"}),
                         CaseName);

// A non-blocking SSL_write_ex of 4 MiB to a server that does not read yet
// fails with WANT_WRITE and is retried with the same buffer until it
// succeeds: tlstap must report the bytes once, not once per attempt.
class PythonNonBlockingTest : public BpfTest {};

TEST_F(PythonNonBlockingTest, RetriedWriteCapturedOnce) {
  constexpr size_t kSize = 4 << 20;
  TempDir dir;
  Certificate cert;
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
  TlstapSession tap;
  ASSERT_NO_FATAL_FAILURE(tap.Start({"--comm", kComm}));

  // Small socket buffers: the first attempt cannot fit 4 MiB of records.
  PeerOptions server_options = ServerOptions("sink", cert);
  server_options.sizes = {kSize};
  server_options.tag = "nonblocking";
  server_options.comm = kComm;
  server_options.rcvbuf = 64 << 10;
  PeerOptions client_options = ClientOptions("nonblock", server_options);
  client_options.sndbuf = 64 << 10;
  PeerPair peers;
  ASSERT_NO_FATAL_FAILURE(StartPair(server_options, client_options, &peers));
  Subprocess& client = *peers.client;
  Subprocess& server = *peers.server;
  const PeerInfo& client_info = peers.client_info;
  const PeerInfo& server_info = peers.server_info;

  // The server reads only once the client has seen WANT_WRITE.
  ASSERT_NO_FATAL_FAILURE(WaitForPeerEvent(client, "want_write", nullptr));
  ASSERT_TRUE(server.Write("go\n", 5s));
  nlohmann::json sent;
  ASSERT_NO_FATAL_FAILURE(WaitForPeerEvent(client, "sent", &sent, 60s));
  ASSERT_NO_FATAL_FAILURE(WaitForPeerEvent(server, "received", nullptr, 60s));
  ASSERT_EQ(client.Wait(30s), 0) << client.Stderr();
  ASSERT_EQ(server.Wait(30s), 0) << server.Stderr();
  EXPECT_EQ(sent.at("bytes"), kSize);
  EXPECT_GE(sent.at("want_write").get<int>(), 1) << sent.dump();

  Capture capture;
  ASSERT_NO_FATAL_FAILURE(tap.Stop(&capture));

  const std::string payload = PeerStream(server_options, "c2s");
  ExpectStream(capture,
               {client_info.pid, kComm, client_info.fd, client_info.laddr, client_info.raddr}, "tx",
               payload);
  ExpectStream(capture,
               {server_info.pid, kComm, server_info.fd, server_info.laddr, server_info.raddr}, "rx",
               payload);
  ExpectNoLoss(capture);
}

}  // namespace
}  // namespace tlstap::bpf_test
