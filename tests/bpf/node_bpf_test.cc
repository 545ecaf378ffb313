// node's tls module: node writes and reads ciphertext from its event loop,
// never inside SSL_write/SSL_read (a custom BIO), so no socket I/O happens
// inside the TLS calls. tlstap must still capture every byte once, on the
// right pid, and tie each session to its socket from the I/O its thread
// makes next to the calls ("attribution":"thread"): the right fd and
// addresses, checked against /proc.
#include <gtest/gtest.h>

#include "tests/bpf/proc_inspect.h"
#include "tests/bpf/subprocess.h"
#include "tests/bpf/test_env.h"
#include "tests/bpf/tlstap_session.h"

namespace tlstap::bpf_test {
namespace {

class NodeTest : public BpfTest, public ::testing::WithParamInterface<size_t> {};

TEST_P(NodeTest, ClientAndServerExactlyOnceAndAttributed) {
  const size_t size = GetParam();
  TempDir dir;
  Certificate cert;
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
  const std::string request = Payload("node/c2s", size);
  const std::string reply = Payload("node/s2c", size);
  const std::string request_file = dir.path() + "/request", reply_file = dir.path() + "/reply";
  ASSERT_NO_FATAL_FAILURE(WriteFile(request_file, request));
  ASSERT_NO_FATAL_FAILURE(WriteFile(reply_file, reply));

  TlstapSession tap;
  ASSERT_NO_FATAL_FAILURE(tap.Start());
  // node may carry its own OpenSSL: the first node process after start
  // makes tlstap attach to it (and say so); later ones are covered from
  // their first call.
  Subprocess warmup(Command({kNode, "-e", "setTimeout(() => {}, 200)"}));
  ASSERT_TRUE(warmup.ok()) << warmup.error();
  EXPECT_EQ(warmup.Wait(30s), 0);
  if (tap.Stderr().find("/usr/bin/node while tlstap ran") == std::string::npos) {
    // node links the system libssl (Debian's build): attached at start already.
    ASSERT_TRUE(
        RunToEnd(Command({"/bin/sh", "-c", std::string("ldd ") + kNode + " | grep -q libssl.so"}),
                 10s)
            .status == 0)
        << "node has no OpenSSL of its own and links no libssl; tlstap stderr:\n"
        << tap.Stderr();
  }

  const int port = FreeTcpPort();
  ASSERT_GT(port, 0);
  Subprocess server(Command({kNode, kNodePeerScript, "server", std::to_string(port), cert.cert,
                             cert.key, std::to_string(size), reply_file}));
  ASSERT_TRUE(server.ok()) << server.error();
  ASSERT_TRUE(WaitForListen(port, 30s)) << server.Stderr();
  Subprocess client(Command({kNode, kNodePeerScript, "client", std::to_string(port), request_file,
                             std::to_string(size)}));
  ASSERT_TRUE(client.ok()) << client.error();
  ASSERT_TRUE(server.WaitForStdout([&](std::string_view out) { return out.size() >= size; }, 30s))
      << "the server got " << server.Stdout().size() << " of " << size << " bytes; stderr:\n"
      << server.Stderr() << client.Stderr();
  ASSERT_TRUE(client.WaitForStdout([&](std::string_view out) { return out.size() >= size; }, 30s))
      << "the client got " << client.Stdout().size() << " of " << size << " bytes; stderr:\n"
      << client.Stderr();

  // The connection stays open until the client's stdin closes.
  auto client_sock = WaitForSocket(
      client.pid(),
      [&](const TcpSocket& s) { return s.state == kTcpEstablished && s.rport == port; }, 30s);
  ASSERT_TRUE(client_sock) << "node client has no connection; stderr:\n" << client.Stderr();
  auto server_sock = WaitForSocket(
      server.pid(),
      [&](const TcpSocket& s) {
        return s.state == kTcpEstablished && s.raddr == client_sock->laddr;
      },
      30s);
  ASSERT_TRUE(server_sock) << "node server has no connection from " << client_sock->laddr;
  client.CloseStdin();
  EXPECT_EQ(client.Wait(60s), 0) << client.Stderr();
  EXPECT_EQ(server.Wait(60s), 0) << server.Stderr();
  ASSERT_TRUE(SameBytes(server.Stdout(), request)) << "the server's stdout";
  ASSERT_TRUE(SameBytes(client.Stdout(), reply)) << "the client's stdout";

  Capture capture;
  ASSERT_NO_FATAL_FAILURE(tap.Stop(&capture));

  const std::string server_addr = HostPort("127.0.0.1", port);
  const Endpoint client_end{client.pid(), "node", client_sock->fd, client_sock->laddr, server_addr};
  const Endpoint server_end{server.pid(), "node", server_sock->fd, server_addr, client_sock->laddr};
  ExpectStream(capture, client_end, "tx", request);
  ExpectStream(capture, server_end, "rx", request);
  ExpectStream(capture, server_end, "tx", reply);
  ExpectStream(capture, client_end, "rx", reply);
  ExpectNoLoss(capture);
}

INSTANTIATE_TEST_SUITE_P(Sizes, NodeTest, ::testing::Values(100, 1 << 20),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           return SizeName(info.param);
                         });

}  // namespace
}  // namespace tlstap::bpf_test
