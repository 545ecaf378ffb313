// NSS's own test programs (libnss3-tools): tstclnt sends an HTTP POST read
// from its stdin, selfserv answers with a fixed header, the request and
// either "EOF" or (-g) 64 blocks of 16 KiB written one PR_Write each. tlstap
// reports, with lib "nss" on the right pid, fd and addresses, exactly the
// bytes on the TLS connection: tstclnt's PR_Send/PR_Recv, selfserv's
// PR_Read/PR_Writev/PR_Write, and nothing of the same functions on plain
// descriptors (tstclnt's stdin and stdout, certutil's files). A selfserv that
// started before tlstap (its SSL layer never passes SSL_ImportFD again) is
// seen too.
#include <gtest/gtest.h>

#include "tests/bpf/proc_inspect.h"
#include "tests/bpf/subprocess.h"
#include "tests/bpf/test_env.h"
#include "tests/bpf/tlstap_session.h"

namespace tlstap::bpf_test {
namespace {

constexpr char kSelfserv[] = "/usr/bin/selfserv";
constexpr char kTstclnt[] = "/usr/bin/tstclnt";

// selfserv.c's outHeader, sent before the echoed request.
constexpr char kSelfservHeader[] =
    "HTTP/1.0 200 OK\r\n"
    "Server: Generic Web Server\r\n"
    "Date: Tue, 26 Aug 1997 22:10:05 GMT\r\n"
    "Content-type: text/plain\r\n"
    "\r\n";
// What selfserv ends a response with unless it sends bulk data (-g).
constexpr char kSelfservEof[] = "EOF\r\n\r\n\r\n";
constexpr size_t kBulkBlock = 16384;  // selfserv's DEFAULT_BULK_TEST

struct NssCase {
  const char* version;  // -V for both tools
  size_t payload;       // bytes posted (selfserv takes requests up to 10 KiB)
  int bulk;             // selfserv -g: bulk + 1 blocks of kBulkBlock follow; 0: none
  bool server_first;    // selfserv runs before tlstap starts
};

class NssTest : public BpfTest, public ::testing::WithParamInterface<NssCase> {
 protected:
  void SetUp() override {
    BpfTest::SetUp();
    for (const char* tool : {kCertutil, kSelfserv, kTstclnt}) {
      ASSERT_EQ(access(tool, X_OK), 0) << tool << " is missing: install libnss3-tools";
    }
  }
};

// selfserv's bulk block: byte i is i mod 256.
std::string BulkBytes(int bulk) {
  std::string block(kBulkBlock, '\0');
  for (size_t i = 0; i < kBulkBlock; ++i) block[i] = static_cast<char>(i & 0xff);
  std::string out;
  for (int i = 0; i <= bulk; ++i) out += block;
  return out;
}

TEST_P(NssTest, ClientAndServerExactlyOncePlainDescriptorsNever) {
  const NssCase& c = GetParam();
  TempDir dir;
  const std::string db = "sql:" + dir.path();
  // A POST: selfserv reads to the line after the blank one.
  const std::string request =
      "POST / HTTP/1.0\r\n\r\n" + Payload(std::string("nss/") + c.version, c.payload) + "\n";
  const std::string response = std::string(kSelfservHeader) + request +
                               (c.bulk ? BulkBytes(c.bulk) : std::string(kSelfservEof));
  const int port = FreeTcpPort();
  ASSERT_GT(port, 0);
  const std::string versions = std::string(c.version) + ":" + c.version;
  std::vector<std::string> server_argv = {
      kSelfserv, "-d", db, "-e", "server", "-p", std::to_string(port), "-V", versions};
  if (c.bulk) server_argv.insert(server_argv.end(), {"-g", std::to_string(c.bulk)});

  TlstapSession tap;
  std::unique_ptr<Subprocess> server;
  auto start_server = [&] {
    server = std::make_unique<Subprocess>(Command(server_argv));
    ASSERT_TRUE(server->ok()) << server->error();
    ASSERT_TRUE(WaitForListen(port, 10s)) << server->Stderr();
  };
  if (c.server_first) {
    ASSERT_NO_FATAL_FAILURE(MakeNssDb(dir));
    ASSERT_NO_FATAL_FAILURE(start_server());
    ASSERT_NO_FATAL_FAILURE(tap.Start());
  } else {
    ASSERT_NO_FATAL_FAILURE(tap.Start());
    ASSERT_NO_FATAL_FAILURE(MakeNssDb(dir));  // certutil's NSPR file I/O, under tlstap
    ASSERT_NO_FATAL_FAILURE(start_server());
  }

  // The request goes through tstclnt's stdin (PR_Read on a pipe) and the
  // response to its stdout (PR_Write): NSPR calls on plain descriptors.
  Subprocess client(Command(
      {kTstclnt, "-h", "127.0.0.1", "-p", std::to_string(port), "-d", db, "-o", "-V", versions}));
  ASSERT_TRUE(client.ok()) << client.error();
  auto client_sock = WaitForSocket(
      client.pid(),
      [&](const TcpSocket& s) { return s.state == kTcpEstablished && s.rport == port; }, 10s);
  ASSERT_TRUE(client_sock) << "tstclnt has no connection; stderr:\n" << client.Stderr();
  auto server_sock = WaitForSocket(
      server->pid(),
      [&](const TcpSocket& s) {
        return s.state == kTcpEstablished && s.rport == client_sock->lport;
      },
      10s);
  ASSERT_TRUE(server_sock) << "selfserv has no connection from " << client_sock->laddr;

  ASSERT_TRUE(client.Write(request, 30s));
  ASSERT_TRUE(client.WaitForStdout(
      [&](std::string_view out) { return out.size() >= response.size(); }, 60s))
      << "tstclnt got " << client.Stdout().size() << " of " << response.size()
      << " bytes; stderr:\n"
      << client.Stderr() << "\nselfserv's stderr:\n"
      << server->Stderr();
  ASSERT_TRUE(SameBytes(client.Stdout(), response)) << "tstclnt's stdout";
  // selfserv closed the connection after its response; tstclnt, left
  // polling its stdin, is stopped here.
  client.Signal(SIGTERM);
  client.Wait(10s);

  Capture capture;
  ASSERT_NO_FATAL_FAILURE(tap.Stop(&capture));

  const Endpoint client_end{client.pid(),       "tstclnt",          client_sock->fd,
                            client_sock->laddr, client_sock->raddr, "nss"};
  const Endpoint server_end{server->pid(),      "selfserv",         server_sock->fd,
                            server_sock->laddr, server_sock->raddr, "nss"};
  ExpectStream(capture, client_end, "tx", request);
  ExpectStream(capture, server_end, "rx", request);
  ExpectStream(capture, server_end, "tx", response);
  ExpectStream(capture, client_end, "rx", response);
  // Nothing else: no event of certutil, nor of any other descriptor.
  for (const DataEvent& e : capture.events) {
    EXPECT_TRUE(e.pid == client.pid() || e.pid == server->pid()) << Describe(e);
    EXPECT_NE(e.comm, "certutil") << Describe(e);
  }
  ExpectNoLoss(capture);
}

std::string CaseName(const ::testing::TestParamInfo<NssCase>& info) {
  const NssCase& c = info.param;
  std::string name = std::string(c.version) + "_post" + SizeName(c.payload);
  for (char& ch : name) {
    if (ch == '.') ch = '_';
  }
  if (c.bulk) name += "_bulk" + SizeName((c.bulk + 1) * kBulkBlock);
  if (c.server_first) name += "_server_before_tlstap";
  return name;
}

INSTANTIATE_TEST_SUITE_P(Sizes, NssTest,
                         ::testing::Values(NssCase{"tls1.2", 1, 0, false},
                                           NssCase{"tls1.3", 5000, 0, false},
                                           NssCase{"tls1.3", 100, 63, false},
                                           NssCase{"tls1.2", 100, 63, true},
                                           NssCase{"tls1.3", 1000, 0, true}),
                         CaseName);

}  // namespace
}  // namespace tlstap::bpf_test
