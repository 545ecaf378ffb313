// GnuTLS's own programs, gnutls-serv --echo and gnutls-cli (libgnutls.so.30,
// gnutls_record_send2/gnutls_record_recv): the client's bytes, and the
// server's echo of them, each appear once, in order, with lib "gnutls" on
// the right pid, fd and addresses, for TLS 1.2 and 1.3.
#include <gtest/gtest.h>

#include "tests/bpf/proc_inspect.h"
#include "tests/bpf/subprocess.h"
#include "tests/bpf/test_env.h"
#include "tests/bpf/tlstap_session.h"

namespace tlstap::bpf_test {
namespace {

constexpr char kGnutlsServ[] = "/usr/bin/gnutls-serv";
constexpr char kGnutlsCli[] = "/usr/bin/gnutls-cli";

struct GnuTlsCase {
  const char* priority;  // --priority: which protocol version
  size_t size;
};

class GnuTlsTest : public BpfTest, public ::testing::WithParamInterface<GnuTlsCase> {};

// gnutls-cli sends what it reads from stdin a line at a time: make the
// payload lines of 64 bytes, the last one ending the payload.
std::string AsLines(std::string text) {
  for (size_t i = 63; i < text.size(); i += 64) text[i] = '\n';
  if (!text.empty()) text.back() = '\n';
  return text;
}

TEST_P(GnuTlsTest, EchoBothWaysExactlyOnce) {
  const GnuTlsCase& c = GetParam();
  TempDir dir;
  Certificate cert;
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
  const std::string payload = AsLines(Payload(std::string("gnutls/") + c.priority, c.size));

  TlstapSession tap;
  ASSERT_NO_FATAL_FAILURE(tap.Start());

  const int port = FreeTcpPort();
  ASSERT_GT(port, 0);
  Subprocess server(
      Command({kGnutlsServ, "--echo", "-q", "-p", std::to_string(port), "--x509certfile", cert.cert,
               "--x509keyfile", cert.key, "--priority", c.priority}));
  ASSERT_TRUE(server.ok()) << server.error();
  ASSERT_TRUE(WaitForListen(port, 10s)) << server.Stderr();
  // Informational messages go to the log file: stdout carries only the echo.
  Subprocess client(Command({kGnutlsCli, "--insecure", "--logfile", dir.path() + "/cli.log", "-p",
                             std::to_string(port), "--priority", c.priority, "127.0.0.1"}));
  ASSERT_TRUE(client.ok()) << client.error();

  auto client_sock = WaitForSocket(
      client.pid(),
      [&](const TcpSocket& s) { return s.state == kTcpEstablished && s.rport == port; }, 10s);
  ASSERT_TRUE(client_sock) << "gnutls-cli has no connection; stderr:\n" << client.Stderr();
  auto server_sock = WaitForSocket(
      server.pid(),
      [&](const TcpSocket& s) {
        return s.state == kTcpEstablished && s.raddr == client_sock->laddr;
      },
      10s);
  ASSERT_TRUE(server_sock) << "gnutls-serv has no connection from " << client_sock->laddr;

  ASSERT_TRUE(client.Write(payload, 30s));
  ASSERT_TRUE(client.WaitForStdout([&](std::string_view out) { return out.size() >= c.size; }, 30s))
      << "gnutls-cli got " << client.Stdout().size() << " of " << c.size << " bytes back; stderr:\n"
      << client.Stderr();
  ASSERT_TRUE(SameBytes(client.Stdout(), payload)) << "gnutls-cli's stdout";
  client.CloseStdin();
  client.Wait(10s);

  Capture capture;
  ASSERT_NO_FATAL_FAILURE(tap.Stop(&capture));

  const std::string server_addr = HostPort("127.0.0.1", port);
  const Endpoint client_end{client.pid(),       "gnutls-cli", client_sock->fd,
                            client_sock->laddr, server_addr,  "gnutls"};
  const Endpoint server_end{server.pid(), "gnutls-serv",      server_sock->fd,
                            server_addr,  client_sock->laddr, "gnutls"};
  ExpectStream(capture, client_end, "tx", payload);
  ExpectStream(capture, server_end, "rx", payload);
  ExpectStream(capture, server_end, "tx", payload);
  ExpectStream(capture, client_end, "rx", payload);
  ExpectNoLoss(capture);
}

std::string CaseName(const ::testing::TestParamInfo<GnuTlsCase>& info) {
  std::string version =
      std::string(info.param.priority).find("TLS1.2") != std::string::npos ? "tls1_2" : "tls1_3";
  return version + "_" + SizeName(info.param.size);
}

constexpr char kTls12[] = "NORMAL:-VERS-ALL:+VERS-TLS1.2";
constexpr char kTls13[] = "NORMAL:-VERS-ALL:+VERS-TLS1.3";

INSTANTIATE_TEST_SUITE_P(Sizes, GnuTlsTest,
                         ::testing::Values(GnuTlsCase{kTls12, 1}, GnuTlsCase{kTls12, 16 << 10},
                                           GnuTlsCase{kTls13, 100}, GnuTlsCase{kTls13, 1 << 20}),
                         CaseName);

}  // namespace
}  // namespace tlstap::bpf_test
