// Debian's openssl s_server and s_client (libssl.so.3, SSL_write/SSL_read),
// one connection per case carrying a payload each way: every byte each side
// sent appears once, in order, on its own pid, fd and addresses, and equals
// what the other side received.
#include <gtest/gtest.h>

#include "tests/bpf/proc_inspect.h"
#include "tests/bpf/subprocess.h"
#include "tests/bpf/test_env.h"
#include "tests/bpf/tlstap_session.h"

namespace tlstap::bpf_test {
namespace {

struct CliCase {
  const char* version;  // s_server/s_client flag
  size_t size;
  bool syscall_hook = false;  // tlstap --syscall-hook: the pre-6.3 attribution path
};

class OpenSslCliTest : public BpfTest, public ::testing::WithParamInterface<CliCase> {};

TEST_P(OpenSslCliTest, BothDirectionsExactlyOnce) {
  const CliCase& c = GetParam();
  TempDir dir;
  Certificate cert;
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
  const std::string tag = std::string("s_client") + c.version + "/" + std::to_string(c.size);
  const std::string upstream = Payload(tag + "/c2s", c.size);
  const std::string downstream = Payload(tag + "/s2c", c.size);

  TlstapSession tap;
  std::vector<std::string> args = {"--comm", "openssl"};
  if (c.syscall_hook) args.insert(args.end(), {"--syscall-hook", "-v"});
  ASSERT_NO_FATAL_FAILURE(tap.Start(args));
  EXPECT_EQ(tap.Stderr().find("sockets found through the sys_enter") != std::string::npos,
            c.syscall_hook)
      << tap.Stderr();

  const int port = FreeTcpPort();
  ASSERT_GT(port, 0);
  const std::string server_addr = HostPort("127.0.0.1", port);
  // -quiet: only the peer's data on stdout; stdin goes to the peer. s_server
  // ends at stdin EOF, s_client (-quiet implies -ign_eof) when the server does.
  Subprocess server(Command({kOpenssl, "s_server", "-accept", server_addr, "-cert", cert.cert,
                             "-key", cert.key, "-naccept", "1", "-quiet", c.version}));
  ASSERT_TRUE(server.ok()) << server.error();
  ASSERT_TRUE(WaitForListen(port, 10s)) << server.Stderr();
  Subprocess client(Command({kOpenssl, "s_client", "-connect", server_addr, "-quiet", c.version}));
  ASSERT_TRUE(client.ok()) << client.error();

  // The sockets, found while both live.
  auto client_sock = WaitForSocket(
      client.pid(),
      [&](const TcpSocket& s) { return s.state == kTcpEstablished && s.rport == port; }, 10s);
  ASSERT_TRUE(client_sock) << "s_client has no connection to " << server_addr << "; stderr:\n"
                           << client.Stderr();
  auto server_sock = WaitForSocket(
      server.pid(),
      [&](const TcpSocket& s) {
        return s.state == kTcpEstablished && s.raddr == client_sock->laddr;
      },
      10s);
  ASSERT_TRUE(server_sock) << "s_server has no connection from " << client_sock->laddr;
  ASSERT_EQ(client_sock->raddr, server_addr);
  ASSERT_EQ(server_sock->laddr, server_addr);

  // Client to server, delivered in full before the server answers.
  ASSERT_TRUE(client.Write(upstream, 30s));
  ASSERT_TRUE(server.WaitForStdout([&](std::string_view out) { return out.size() >= c.size; }, 30s))
      << "s_server received " << server.Stdout().size() << " of " << c.size
      << " bytes; s_client stderr:\n"
      << client.Stderr();
  ASSERT_TRUE(server.Write(downstream, 30s));
  ASSERT_TRUE(client.WaitForStdout([&](std::string_view out) { return out.size() >= c.size; }, 30s))
      << "s_client received " << client.Stdout().size() << " of " << c.size << " bytes";
  client.CloseStdin();
  server.CloseStdin();
  EXPECT_EQ(server.Wait(10s), 0) << server.Stderr();
  EXPECT_EQ(client.Wait(10s), 0) << client.Stderr();
  // What the programs themselves saw: the reference for what tlstap saw.
  ASSERT_TRUE(SameBytes(server.Stdout(), upstream)) << "s_server's stdout";
  ASSERT_TRUE(SameBytes(client.Stdout(), downstream)) << "s_client's stdout";

  Capture capture;
  ASSERT_NO_FATAL_FAILURE(tap.Stop(&capture));

  const Endpoint client_end{client.pid(), "openssl", client_sock->fd, client_sock->laddr,
                            server_addr};
  const Endpoint server_end{server.pid(), "openssl", server_sock->fd, server_addr,
                            client_sock->laddr};
  ExpectStream(capture, client_end, "tx", upstream);
  ExpectStream(capture, server_end, "rx", upstream);
  ExpectStream(capture, server_end, "tx", downstream);
  ExpectStream(capture, client_end, "rx", downstream);
  ExpectNoLoss(capture);
}

std::string CaseName(const ::testing::TestParamInfo<CliCase>& info) {
  std::string version = info.param.version + 1;  // "tls1_3"
  return version + "_" + SizeName(info.param.size) + (info.param.syscall_hook ? "_sys_enter" : "");
}

INSTANTIATE_TEST_SUITE_P(
    Sizes, OpenSslCliTest,
    ::testing::Values(CliCase{"-tls1_2", 1}, CliCase{"-tls1_2", 100}, CliCase{"-tls1_2", 16 << 10},
                      CliCase{"-tls1_2", 1 << 20}, CliCase{"-tls1_3", 1}, CliCase{"-tls1_3", 100},
                      CliCase{"-tls1_3", 16 << 10}, CliCase{"-tls1_3", 1 << 20},
                      CliCase{"-tls1_2", 100, true}, CliCase{"-tls1_3", 1 << 20, true}),
    CaseName);

}  // namespace
}  // namespace tlstap::bpf_test
