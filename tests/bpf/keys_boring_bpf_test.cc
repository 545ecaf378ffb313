// tlstap keys on BoringSSL (Debian's android libssl.so.0, tests/progs/tls_boring),
// each side traced alone against an untraced openssl s_client or s_server,
// which picks the TLS 1.3 suite (BoringSSL lets no program choose): the
// oracle is tls_boring's own key log (SSL_CTX_set_keylog_callback into
// SSLKEYLOGFILE). tlstap writes CLIENT_RANDOM for TLS 1.2 and all five
// TLS 1.3 lines: the two handshake traffic secrets read during
// SSL_do_handshake (BoringSSL frees the state that holds them before it
// returns), the others at the first call that moves data. And tshark
// decrypting tls_boring's connection with nothing but tlstap's key log.
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "tests/bpf/keys_support.h"
#include "tests/bpf/proc_inspect.h"
#include "tests/bpf/subprocess.h"
#include "tests/bpf/test_env.h"

namespace tlstap::bpf_test {
namespace {

struct BoringKeysCase {
  const char* name;
  const char* tls;
  std::vector<std::string> openssl_cipher;  // for the openssl peer
  std::string boring_ciphers;               // TLS_BORING_CIPHERS (TLS 1.2)
};

const BoringKeysCase kBoringCases[] = {
    {"tls1_2_aes_gcm", "1.2", {}, "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256"},
    {"tls1_2_chacha20", "1.2", {}, "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-CHACHA20-POLY1305"},
    {"tls1_3_aes_256_gcm", "1.3", {"-ciphersuites", "TLS_AES_256_GCM_SHA384"}, ""},
    {"tls1_3_aes_128_gcm", "1.3", {"-ciphersuites", "TLS_AES_128_GCM_SHA256"}, ""},
    {"tls1_3_chacha20", "1.3", {"-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"}, ""},
};

class BoringKeysTest : public KeysParamTest<BoringKeysCase> {
 protected:
  bool Tls13() const { return std::string(GetParam().tls) == "1.3"; }
  SpawnOptions Boring(std::vector<std::string> args, const std::string& oracle) const {
    args.insert(args.begin(), TLSTAP_BORING_PEER);
    SpawnOptions o = Command(args);
    o.env.push_back("SSLKEYLOGFILE=" + oracle);
    if (!GetParam().boring_ciphers.empty()) {
      o.env.push_back("TLS_BORING_CIPHERS=" + GetParam().boring_ciphers);
    }
    return o;
  }
  // The openssl peer's version and cipher.
  std::vector<std::string> OpensslArgs() const {
    std::vector<std::string> args = {TlsFlag(GetParam().tls)};
    args.insert(args.end(), GetParam().openssl_cipher.begin(), GetParam().openssl_cipher.end());
    return args;
  }
  // tlstap keys on tls_boring, held to oracle.
  KeysRun Run(const std::string& oracle) const {
    return {
        .args = {"--comm", "tls_boring"}, .oracle = oracle, .lines_per_session = Tls13() ? 5u : 1u};
  }
  // A tls_boring that maps the library before tlstap starts and never
  // connects: tlstap finds the library at its start, not while the client
  // already runs. ASSERTs.
  void StartHolder(std::unique_ptr<Subprocess>* holder) {
    const int port = FreeTcpPort();
    ASSERT_GT(port, 0);
    ASSERT_NO_FATAL_FAILURE(StartListening(
        Boring({"server", std::to_string(port), cert_.cert, cert_.key, GetParam().tls, "1"},
               dir_ / "holder.keys"),
        port, holder));
  }
  // The untraced openssl s_server for the traced tls_boring client. ASSERTs.
  void StartOpensslServer(int* port, std::unique_ptr<Subprocess>* server) {
    *port = FreeTcpPort();
    ASSERT_GT(*port, 0);
    ASSERT_NO_FATAL_FAILURE(
        StartListening(OpensslServer(*port, cert_, OpensslArgs()), *port, server));
  }
  // Every label BoringSSL logs, in the oracle and in tlstap's key log.
  void ExpectLabels(const std::string& oracle) const {
    std::multiset<std::string> all = KeyLines(oracle);
    EXPECT_EQ(Labels(all), LoggedLabels(Tls13())) << "tls_boring's own key log:\n" << Show(all);
    EXPECT_EQ(Labels(KeyLines(tap_log_)), LoggedLabels(Tls13()));
  }
};

// tls_boring client traced, openssl s_server not.
TEST_P(BoringKeysTest, ClientSide) {
  const BoringKeysCase& c = GetParam();
  const std::string oracle = dir_ / "boring.keys";
  std::unique_ptr<Subprocess> holder;
  ASSERT_NO_FATAL_FAILURE(StartHolder(&holder));
  const bool compared = KeysBeside(Run(oracle), [&] {
    int port = 0;
    std::unique_ptr<Subprocess> server;
    ASSERT_NO_FATAL_FAILURE(StartOpensslServer(&port, &server));
    const std::string payload = Payload(std::string("boring-keys/") + c.name, kSize);
    Subprocess client(Boring({"client", std::to_string(port), c.tls}, oracle));
    ASSERT_TRUE(client.ok()) << client.error();
    ASSERT_TRUE(client.Write(payload, 30s));
    client.CloseStdin();
    ASSERT_TRUE(
        server->WaitForStdout([](std::string_view out) { return out.size() >= kSize; }, 30s))
        << "s_server stderr:\n"
        << server->Stderr() << "client stderr:\n"
        << client.Stderr();
    EXPECT_EQ(server->Stdout(), payload);
    ASSERT_TRUE(server->Write(payload, 30s));
    EXPECT_EQ(client.Wait(30s), 0) << client.Stderr();
    EXPECT_EQ(client.Stdout(), payload);
    server->CloseStdin();
    server->Wait(10s);
  });
  if (!compared) return;
  Terminate(*holder);
  ExpectLabels(oracle);
}

// tls_boring server traced, openssl s_client not.
TEST_P(BoringKeysTest, ServerSide) {
  const BoringKeysCase& c = GetParam();
  const std::string oracle = dir_ / "boring.keys";
  const int port = FreeTcpPort();
  ASSERT_GT(port, 0);
  // The server maps the library before tlstap starts: found at its start.
  std::unique_ptr<Subprocess> server;
  ASSERT_NO_FATAL_FAILURE(StartListening(
      Boring({"server", std::to_string(port), cert_.cert, cert_.key, c.tls, std::to_string(kSize)},
             oracle),
      port, &server));
  const bool compared = KeysBeside(Run(oracle), [&] {
    Subprocess client(OpensslClient(port, OpensslArgs()));
    ASSERT_TRUE(client.ok()) << client.error();
    const std::string payload = Payload(std::string("boring-keys-s/") + c.name, kSize);
    ASSERT_TRUE(client.Write(payload, 30s));
    ASSERT_TRUE(client.WaitForStdout([](std::string_view out) { return out.size() >= kSize; }, 30s))
        << "s_client stderr:\n"
        << client.Stderr() << "server stderr:\n"
        << server->Stderr();
    EXPECT_EQ(client.Stdout(), payload);
    client.CloseStdin();
    EXPECT_EQ(client.Wait(10s), 0) << client.Stderr();
    EXPECT_EQ(server->Wait(10s), 0) << server->Stderr();
  });
  if (!compared) return;
  ExpectLabels(oracle);
}

// tshark decrypts a loopback capture of tls_boring (client traced) and
// openssl s_server with nothing but tlstap's key log, both directions,
// TLS 1.2 and 1.3 (whose handshake traffic secrets Wireshark needs to
// follow the handshake to the application keys).
class BoringTsharkTest : public BoringKeysTest {};

TEST_P(BoringTsharkTest, TsharkDecryptsWithTheKeyLog) {
  const BoringKeysCase& c = GetParam();
  std::unique_ptr<Subprocess> holder;
  ASSERT_NO_FATAL_FAILURE(StartHolder(&holder));
  ASSERT_NO_FATAL_FAILURE(tap_.Start(tap_log_, {"--comm", "tls_boring"}));
  int port = 0;
  std::unique_ptr<Subprocess> server;
  ASSERT_NO_FATAL_FAILURE(StartOpensslServer(&port, &server));
  const std::string request = "GET /tlstap-boring-keys HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  const std::string response = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  // tls_boring reads back as many bytes as it sent
  const std::string reply = response + std::string(request.size() - response.size(), 'x');
  std::string decrypted;
  ASSERT_NO_FATAL_FAILURE(DecryptWithKeyLog(
      port,
      [&] {
        Subprocess client(Boring({"client", std::to_string(port), c.tls}, dir_ / "boring.keys"));
        ASSERT_TRUE(client.ok()) << client.error();
        ASSERT_TRUE(client.Write(request, 30s));
        client.CloseStdin();
        ASSERT_TRUE(server->WaitForStdout(
            [&](std::string_view out) { return out.size() >= request.size(); }, 30s))
            << server->Stderr() << client.Stderr();
        ASSERT_TRUE(server->Write(reply, 30s));
        EXPECT_EQ(client.Wait(30s), 0) << client.Stderr();
        EXPECT_EQ(client.Stdout(), reply);
        server->CloseStdin();
        server->Wait(10s);
      },
      &decrypted));
  Terminate(*holder);
  auto [c2s, s2c] = SplitFollowTls(decrypted, port);
  EXPECT_EQ(c2s, request) << NotDecrypted(decrypted);
  EXPECT_EQ(s2c, reply) << decrypted;
}

INSTANTIATE_TEST_SUITE_P(Ciphers, BoringKeysTest, ::testing::ValuesIn(kBoringCases),
                         CaseName<BoringKeysCase>);
INSTANTIATE_TEST_SUITE_P(Ciphers, BoringTsharkTest, ::testing::ValuesIn(kBoringCases),
                         CaseName<BoringKeysCase>);

}  // namespace
}  // namespace tlstap::bpf_test
