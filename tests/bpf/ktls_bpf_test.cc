// Kernel TLS (kTLS): tests/progs/ktls_peer hands its TLS session to the
// kernel (OpenSSL's SSL_OP_ENABLE_KTLS) and moves plaintext with write(),
// recvmsg() or SSL_sendfile(), which only the kTLS probes see; or with
// SSL_write/SSL_read on the kTLS socket, which both layers see and tlstap
// must report once.
//
// These need kprobes and the kernel's tls module: they run in the vm tier's
// guests (Debian 6.1 and 6.12 kernels). On a kernel without them (this
// project's development host: no kprobes, CONFIG_TLS off) they are skipped,
// naming the missing feature; the first test checks what tlstap says there.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "loader/ktls.h"
#include "tests/bpf/python_peer.h"
#include "tests/bpf/test_env.h"
#include "tests/bpf/tlstap_session.h"

namespace tlstap::bpf_test {
namespace {

constexpr char kComm[] = "tlstap-ktls";

std::string KtlsPeer() { return std::string(kGoPeerDir) + "/ktls_peer"; }

// On any kernel: with kTLS capture unavailable tlstap says why in one line
// and captures TLS libraries as before; with it, --list names the kernel
// functions probed.
class KtlsSupportTest : public BpfTest {};

TEST_F(KtlsSupportTest, SaysWhyOrListsTheKernelFunctions) {
  loader::KtlsSupport support = loader::ktls_support();
  if (support.state == loader::KtlsSupport::kReady) {
    SpawnOptions spawn;
    spawn.argv = {kTlstap, "--list"};
    Subprocess list(spawn);
    ASSERT_EQ(list.Wait(120s), 0) << list.Stderr();
    EXPECT_NE(
        list.Stdout().find("kernel TLS (kTLS): fentry/fexit on tls_sw_sendmsg tls_sw_recvmsg"),
        std::string::npos)
        << list.Stdout();
    return;
  }
  TlstapSession tap;
  ASSERT_NO_FATAL_FAILURE(tap.Start({"--comm", kComm}));
  std::string expected = "tlstap: kTLS capture " +
                         std::string(support.state == loader::KtlsSupport::kWaitingModule
                                         ? "starts when the tls module loads: "
                                         : "unavailable: ") +
                         support.why + "\n";
  EXPECT_NE(tap.Stderr().find(expected), std::string::npos) << tap.Stderr();

  // The libraries are still captured.
  TempDir dir;
  Certificate cert;
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
  PeerOptions server_options = ServerOptions("exchange", cert);
  server_options.sizes = {100};
  server_options.tag = "no-ktls";
  server_options.comm = kComm;
  PeerPair peers;
  ASSERT_NO_FATAL_FAILURE(
      StartPair(server_options, ClientOptions("exchange", server_options), &peers));
  ASSERT_EQ(peers.client->Wait(60s), 0) << peers.client->Stderr();
  ASSERT_EQ(peers.server->Wait(10s), 0) << peers.server->Stderr();
  Capture capture;
  ASSERT_NO_FATAL_FAILURE(tap.Stop(&capture));
  const PeerInfo& client = peers.client_info;
  ExpectStream(capture, {client.pid, kComm, client.fd, client.laddr, client.raddr}, "tx",
               PeerStream(server_options, "c2s"));
}

struct KtlsCase {
  const char* name;
  const char* tls;
  const char* cipher;
  const char* send_api;  // ktls_peer --send-api
  const char* recv_api;  // ktls_peer --recv-api
  bool kprobes = false;  // tlstap --ktls-kprobes: kprobes, not fentry/fexit
};

class KtlsTest : public BpfTest, public ::testing::WithParamInterface<KtlsCase> {
 protected:
  void SetUp() override {
    BpfTest::SetUp();
    loader::KtlsSupport support = loader::ktls_support();
    if (support.state != loader::KtlsSupport::kReady) {
      GTEST_SKIP() << "kTLS capture needs kprobes and the tls module loaded: " << support.why;
    }
  }
};

// The library that reports a direction's bytes: the kernel's TLS layer when
// the program moves them with plain syscalls, else OpenSSL (and then the
// event says the kernel carried them too, if it did).
std::string LibOf(const std::string& api) { return api == "ssl" ? "openssl" : "ktls"; }

// Both peers on kTLS, 1 B to 1 MiB each way: every byte exactly once, in
// order, on the right process, fd and addresses, from the layer that saw it.
TEST_P(KtlsTest, ExchangeExactlyOnce) {
  const KtlsCase& c = GetParam();
  TempDir dir;
  Certificate cert;
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
  TlstapSession tap;
  std::vector<std::string> args = {"--comm", kComm};
  if (c.kprobes) args.push_back("--ktls-kprobes");
  ASSERT_NO_FATAL_FAILURE(tap.Start(args));

  PeerOptions server_options = ServerOptions("exchange", cert);
  server_options.program = {KtlsPeer()};
  server_options.tls = c.tls;
  server_options.sizes = {1, 100, 16 << 10, 1 << 20};
  server_options.tag = std::string("ktls-") + c.name;
  server_options.comm = kComm;
  server_options.extra = {"--ktls",   "--cipher",   c.cipher,  "--send-api",
                          c.send_api, "--recv-api", c.recv_api};
  PeerOptions client_options = ClientOptions("exchange", server_options);
  PeerPair peers;
  ASSERT_NO_FATAL_FAILURE(StartPair(server_options, client_options, &peers));
  const PeerInfo& client = peers.client_info;
  const PeerInfo& server = peers.server_info;
  ASSERT_EQ(client.version, std::string("TLSv") + c.tls);
  ASSERT_TRUE(client.ktls_tx) << "kTLS TX is not active for " << client.cipher;
  ASSERT_EQ(peers.client->Wait(120s), 0) << peers.client->Stderr();
  ASSERT_EQ(peers.server->Wait(30s), 0) << peers.server->Stderr();
  Capture capture;
  ASSERT_NO_FATAL_FAILURE(tap.Stop(&capture));
  // Hooked the way asked: fentry/fexit where the kernel has trampolines
  // (both kernels of the matrix), kprobes when told.
  const std::string hooked = std::string("tlstap: kTLS capture on: ") +
                             (c.kprobes ? "kprobes" : "fentry/fexit") +
                             " on tls_sw_sendmsg tls_sw_recvmsg";
  EXPECT_NE(tap.Stderr().find(hooked), std::string::npos) << tap.Stderr();

  const std::string upstream = PeerStream(server_options, "c2s");
  const std::string downstream = PeerStream(server_options, "s2c");
  Endpoint client_end{client.pid, kComm, client.fd, client.laddr, client.raddr};
  Endpoint server_end{server.pid, kComm, server.fd, server.laddr, server.raddr};
  client_end.lib = server_end.lib = LibOf(c.send_api);
  ExpectStream(capture, client_end, "tx", upstream);
  ExpectStream(capture, server_end, "tx", downstream);
  client_end.lib = server_end.lib = LibOf(c.recv_api);
  ExpectStream(capture, server_end, "rx", upstream);
  ExpectStream(capture, client_end, "rx", downstream);

  // Each byte once: a library call on a kTLS socket is one event, marked as
  // carried by kTLS too, and the kernel call inside it adds nothing.
  for (const PeerInfo* peer : {&client, &server}) {
    for (const char* dir : {"tx", "rx"}) {
      const std::string& api = std::string(dir) == "tx" ? c.send_api : c.recv_api;
      bool kernel_did_it = std::string(dir) == "tx" ? peer->ktls_tx : peer->ktls_rx;
      for (const DataEvent* e : capture.Of(peer->pid, dir)) {
        EXPECT_EQ(e->lib, LibOf(api)) << Describe(*e);
        if (e->lib == "openssl") {
          EXPECT_EQ(e->ktls, kernel_did_it) << Describe(*e);
        } else {
          EXPECT_EQ(e->attribution, "syscall") << Describe(*e);
        }
      }
    }
  }
  ExpectNoLoss(capture);
}

// The tls module loads after tlstap started, as it does on a host where a
// program's first kTLS socket loads it: tlstap waits for it, then loads its
// fentry/fexit object against the module's BTF, and captures from then on.
class KtlsLateModuleTest : public KtlsTest {};

TEST_F(KtlsLateModuleTest, HookedWhenTheModuleLoads) {
  ASSERT_EQ(syscall(SYS_delete_module, "tls", O_NONBLOCK), 0)
      << "cannot unload the tls module to load it again: " << strerror(errno);
  ASSERT_FALSE(loader::tls_module_loaded());
  TempDir dir;
  Certificate cert;
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
  TlstapSession tap;
  ASSERT_NO_FATAL_FAILURE(tap.Start({"--comm", kComm}));
  EXPECT_NE(tap.Stderr().find("tlstap: kTLS capture starts when the tls module loads"),
            std::string::npos)
      << tap.Stderr();

  auto exchange = [&](const std::string& tag, PeerPair* peers, PeerOptions* server_options) {
    *server_options = ServerOptions("exchange", cert);
    server_options->program = {KtlsPeer()};
    server_options->tls = "1.2";
    server_options->sizes = {1, 100, 16 << 10};
    server_options->tag = tag;
    server_options->comm = kComm;
    server_options->extra = {"--ktls", "--cipher",   "AES128-GCM", "--send-api",
                             "write",  "--recv-api", "read"};
    ASSERT_NO_FATAL_FAILURE(
        StartPair(*server_options, ClientOptions("exchange", *server_options), peers));
    ASSERT_TRUE(peers->client_info.ktls_tx) << "kTLS TX is not active";
    ASSERT_EQ(peers->client->Wait(120s), 0) << peers->client->Stderr();
    ASSERT_EQ(peers->server->Wait(30s), 0) << peers->server->Stderr();
  };
  // The first pair's setsockopt(TCP_ULP, "tls") has the kernel load the module.
  PeerPair first;
  PeerOptions first_options;
  ASSERT_NO_FATAL_FAILURE(exchange("late-module-first", &first, &first_options));
  ASSERT_TRUE(loader::tls_module_loaded());
  ASSERT_TRUE(tap.WaitForStderr(
      [](std::string_view err) {
        return err.find("tlstap: kTLS capture on: fentry/fexit on tls_sw_sendmsg tls_sw_recvmsg") !=
               std::string_view::npos;
      },
      60s))
      << tap.Stderr();

  // From then on every byte is there.
  PeerPair second;
  PeerOptions server_options;
  ASSERT_NO_FATAL_FAILURE(exchange("late-module-second", &second, &server_options));
  Capture capture;
  ASSERT_NO_FATAL_FAILURE(tap.Stop(&capture));
  const PeerInfo& client = second.client_info;
  const PeerInfo& server = second.server_info;
  Endpoint client_end{client.pid, kComm, client.fd, client.laddr, client.raddr};
  Endpoint server_end{server.pid, kComm, server.fd, server.laddr, server.raddr};
  client_end.lib = server_end.lib = "ktls";
  ExpectStream(capture, client_end, "tx", PeerStream(server_options, "c2s"));
  ExpectStream(capture, server_end, "rx", PeerStream(server_options, "c2s"));
  ExpectStream(capture, server_end, "tx", PeerStream(server_options, "s2c"));
  ExpectStream(capture, client_end, "rx", PeerStream(server_options, "s2c"));
}

std::string CaseName(const ::testing::TestParamInfo<KtlsCase>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(
    Paths, KtlsTest,
    ::testing::Values(
        // TLS 1.2: both directions in the kernel, the program writes and
        // reads plaintext on the socket itself.
        KtlsCase{"tls1_2_aes128gcm_write_read", "1.2", "AES128-GCM", "write", "read"},
        KtlsCase{"tls1_2_aes256gcm_write_read", "1.2", "AES256-GCM", "write", "read"},
        KtlsCase{"tls1_2_chacha20_write_read", "1.2", "CHACHA20-POLY1305", "write", "read"},
        // TLS 1.3: OpenSSL 3.0 gives the kernel only the sending side.
        KtlsCase{"tls1_3_aes128gcm_write_ssl", "1.3", "AES128-GCM", "write", "ssl"},
        KtlsCase{"tls1_3_chacha20_write_ssl", "1.3", "CHACHA20-POLY1305", "write", "ssl"},
        // sendfile: pages, not a user buffer (tls_sw_sendpage before 6.5,
        // a bio_vec through tls_sw_sendmsg after).
        KtlsCase{"tls1_2_sendfile", "1.2", "AES128-GCM", "sendfile", "read"},
        KtlsCase{"tls1_3_sendfile", "1.3", "AES256-GCM", "sendfile", "ssl"},
        // splice out of the socket into a pipe: the pipe's pages
        // (tls_sw_splice_read); records of other types are read with recvmsg.
        KtlsCase{"tls1_2_splice", "1.2", "AES128-GCM", "write", "splice"},
        KtlsCase{"tls1_2_chacha20_splice", "1.2", "CHACHA20-POLY1305", "sendfile", "splice"},
        // SSL_write/SSL_read on kTLS sockets: reported once, by OpenSSL.
        KtlsCase{"tls1_2_ssl_calls_once", "1.2", "AES128-GCM", "ssl", "ssl"},
        KtlsCase{"tls1_3_ssl_calls_once", "1.3", "AES256-GCM", "ssl", "ssl"},
        // The same paths through kprobes/kretprobes (--ktls-kprobes), the
        // way on kernels without BPF trampolines.
        KtlsCase{"kprobes_tls1_2_write_read", "1.2", "AES128-GCM", "write", "read", true},
        KtlsCase{"kprobes_tls1_3_write_ssl", "1.3", "CHACHA20-POLY1305", "write", "ssl", true},
        KtlsCase{"kprobes_tls1_2_sendfile_splice", "1.2", "AES256-GCM", "sendfile", "splice",
                 true}),
    CaseName);

}  // namespace
}  // namespace tlstap::bpf_test
