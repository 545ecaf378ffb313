// BoringSSL (Debian's android-libboringssl, libssl.so.0 outside the linker
// cache): tests/progs/tls_boring sends its stdin in one SSL_write and the
// server echoes it in one; each byte appears once per direction, in order,
// with lib "boringssl" on the right pid, fd and addresses, for TLS 1.2 and
// 1.3, 1 B to 1 MiB. The library is found either in the maps of a server
// that was running when tlstap started, or when a server started later maps
// it (then tlstap says it attached late, and the test waits for that line).
#include <gtest/gtest.h>

#include "tests/bpf/proc_inspect.h"
#include "tests/bpf/subprocess.h"
#include "tests/bpf/test_env.h"
#include "tests/bpf/tlstap_session.h"

namespace tlstap::bpf_test {
namespace {

constexpr char kBoringPeer[] = TLSTAP_BORING_PEER;
constexpr char kAndroidLibssl[] = "/usr/lib/x86_64-linux-gnu/android/libssl.so.0";

struct BoringCase {
  const char* version;  // "1.2" or "1.3"
  size_t size;
  bool server_first;  // the server runs before tlstap starts
};

class BoringSslTest : public BpfTest, public ::testing::WithParamInterface<BoringCase> {};

TEST_P(BoringSslTest, EchoBothWaysExactlyOnce) {
  const BoringCase& c = GetParam();
  ASSERT_EQ(access(kAndroidLibssl, R_OK), 0) << kAndroidLibssl << ": install android-libboringssl";
  TempDir dir;
  Certificate cert;
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
  const std::string payload = Payload(std::string("boringssl/") + c.version, c.size);
  const int port = FreeTcpPort();
  ASSERT_GT(port, 0);

  TlstapSession tap;
  std::unique_ptr<Subprocess> server;
  auto start_server = [&] {
    server = std::make_unique<Subprocess>(
        Command({kBoringPeer, "server", std::to_string(port), cert.cert, cert.key, c.version,
                 std::to_string(c.size)}));
    ASSERT_TRUE(server->ok()) << server->error();
    ASSERT_TRUE(WaitForListen(port, 10s)) << server->Stderr();
  };
  if (c.server_first) {
    ASSERT_NO_FATAL_FAILURE(start_server());
    ASSERT_NO_FATAL_FAILURE(tap.Start());
  } else {
    ASSERT_NO_FATAL_FAILURE(tap.Start());
    ASSERT_NO_FATAL_FAILURE(start_server());
    ASSERT_TRUE(tap.WaitForStderr(
        [](std::string_view err) {
          return err.find("android/libssl.so.0 while tlstap ran") != std::string_view::npos;
        },
        10s))
        << "tlstap did not attach to the server's BoringSSL; its stderr:\n"
        << tap.Stderr();
  }

  Subprocess client(Command({kBoringPeer, "client", std::to_string(port), c.version}));
  ASSERT_TRUE(client.ok()) << client.error();
  auto client_sock = WaitForSocket(
      client.pid(),
      [&](const TcpSocket& s) { return s.state == kTcpEstablished && s.rport == port; }, 10s);
  ASSERT_TRUE(client_sock) << "tls_boring client has no connection; stderr:\n" << client.Stderr();
  auto server_sock = WaitForSocket(
      server->pid(),
      [&](const TcpSocket& s) {
        return s.state == kTcpEstablished && s.raddr == client_sock->laddr;
      },
      10s);
  ASSERT_TRUE(server_sock) << "the server has no connection from " << client_sock->laddr;

  ASSERT_TRUE(client.Write(payload, 30s));
  client.CloseStdin();
  EXPECT_EQ(client.Wait(30s), 0) << client.Stderr();
  EXPECT_EQ(server->Wait(10s), 0) << server->Stderr();
  ASSERT_TRUE(SameBytes(client.Stdout(), payload)) << "the client's stdout";

  Capture capture;
  ASSERT_NO_FATAL_FAILURE(tap.Stop(&capture));

  const std::string server_addr = HostPort("127.0.0.1", port);
  const Endpoint client_end{client.pid(),       "tls_boring", client_sock->fd,
                            client_sock->laddr, server_addr,  "boringssl"};
  const Endpoint server_end{server->pid(), "tls_boring",       server_sock->fd,
                            server_addr,   client_sock->laddr, "boringssl"};
  ExpectStream(capture, client_end, "tx", payload);
  ExpectStream(capture, server_end, "rx", payload);
  ExpectStream(capture, server_end, "tx", payload);
  ExpectStream(capture, client_end, "rx", payload);
  // One SSL_write each way carries the whole payload: one event.
  EXPECT_EQ(capture.Of(client.pid(), "tx").size(), 1u);
  EXPECT_EQ(capture.Of(server->pid(), "tx").size(), 1u);
  ExpectNoLoss(capture);
}

std::string CaseName(const ::testing::TestParamInfo<BoringCase>& info) {
  const BoringCase& c = info.param;
  std::string name =
      std::string("tls") + (c.version[2] == '2' ? "1_2_" : "1_3_") + SizeName(c.size);
  return c.server_first ? name + "_server_before_tlstap" : name;
}

INSTANTIATE_TEST_SUITE_P(Sizes, BoringSslTest,
                         ::testing::Values(BoringCase{"1.2", 1, false},
                                           BoringCase{"1.2", 16 << 10, false},
                                           BoringCase{"1.3", 100, false},
                                           BoringCase{"1.3", 1 << 20, false},
                                           BoringCase{"1.2", 1 << 20, true}),
                         CaseName);

}  // namespace
}  // namespace tlstap::bpf_test
