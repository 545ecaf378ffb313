// tlstap keys and --keylog on OpenSSL: the key log tlstap writes for openssl
// s_client or s_server (each traced alone, --comm, against an untraced
// Python peer) holds exactly the lines the program wrote to its -keylogfile,
// TLS 1.2 and 1.3, AES-GCM and ChaCha20; and Python's ssl on both ends, both
// traced, with --keylog beside a capture. Files are created 0600.
#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/bpf/keys_support.h"
#include "tests/bpf/proc_inspect.h"
#include "tests/bpf/python_peer.h"
#include "tests/bpf/subprocess.h"
#include "tests/bpf/test_env.h"
#include "tests/bpf/tlstap_session.h"

namespace tlstap::bpf_test {
namespace {

struct KeysCase {
  const char* name;
  const char* tls;  // "1.2" / "1.3"
  // openssl s_client/s_server arguments choosing the cipher; Python's TLS 1.2 cipher list
  std::vector<std::string> openssl_cipher;
  std::string python_ciphers;
};

size_t LinesPerSession(const KeysCase& c) { return std::string(c.tls) == "1.3" ? 5 : 1; }

const KeysCase kCases[] = {
    {"tls1_2_aes_gcm",
     "1.2",
     {"-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"},
     ""},
    {"tls1_2_chacha20",
     "1.2",
     {"-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"},
     "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"},
    {"tls1_3_aes_256_gcm", "1.3", {"-ciphersuites", "TLS_AES_256_GCM_SHA384"}, ""},
    {"tls1_3_aes_128_gcm", "1.3", {"-ciphersuites", "TLS_AES_128_GCM_SHA256"}, ""},
    {"tls1_3_chacha20", "1.3", {"-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"}, ""},
};

class KeysTest : public KeysParamTest<KeysCase> {
 protected:
  // The openssl program's arguments: its key log, the version and the cipher.
  std::vector<std::string> OpensslArgs(const std::string& oracle) const {
    const KeysCase& c = GetParam();
    std::vector<std::string> args = {"-keylogfile", oracle, TlsFlag(c.tls)};
    args.insert(args.end(), c.openssl_cipher.begin(), c.openssl_cipher.end());
    return args;
  }
};

// s_client traced (tlstap keys --comm openssl), a Python server not.
TEST_P(KeysTest, OpensslClientSide) {
  const KeysCase& c = GetParam();
  const std::string oracle = dir_ / "s_client.keys";
  const KeysRun run = {
      .args = {"--comm", "openssl"}, .oracle = oracle, .lines_per_session = LinesPerSession(c)};
  std::unique_ptr<Subprocess> peer;
  KeysBeside(run, [&] {
    PeerOptions server = ServerOptions("exchange", cert_);
    server.tls = c.tls;
    server.sizes = {kSize};
    if (!c.python_ciphers.empty()) server.extra = {"--ciphers", c.python_ciphers};
    peer = StartPeer(server);
    int port = 0;
    ASSERT_NO_FATAL_FAILURE(WaitForListening(*peer, &port));
    Subprocess client(OpensslClient(port, OpensslArgs(oracle)));
    ASSERT_TRUE(client.ok()) << client.error();
    ASSERT_TRUE(client.Write(PeerStream(server, "c2s"), 30s));
    ASSERT_TRUE(client.WaitForStdout([](std::string_view out) { return out.size() >= kSize; }, 30s))
        << "s_client stderr:\n"
        << client.Stderr() << "server stderr:\n"
        << peer->Stderr();
    EXPECT_EQ(client.Stdout(), PeerStream(server, "s2c"));
    client.CloseStdin();
    EXPECT_EQ(client.Wait(10s), 0) << client.Stderr();
    nlohmann::json done;
    ASSERT_NO_FATAL_FAILURE(WaitForPeerEvent(*peer, "done", &done));
  });
}

// s_server traced, a Python client not.
TEST_P(KeysTest, OpensslServerSide) {
  const KeysCase& c = GetParam();
  const std::string oracle = dir_ / "s_server.keys";
  const KeysRun run = {
      .args = {"--comm", "openssl"}, .oracle = oracle, .lines_per_session = LinesPerSession(c)};
  std::unique_ptr<Subprocess> client;
  KeysBeside(run, [&] {
    const int port = FreeTcpPort();
    ASSERT_GT(port, 0);
    std::unique_ptr<Subprocess> server;
    ASSERT_NO_FATAL_FAILURE(
        StartListening(OpensslServer(port, cert_, OpensslArgs(oracle)), port, &server));
    PeerOptions client_options = ServerOptions("exchange", cert_);
    client_options.tls = c.tls;
    client_options.sizes = {kSize};
    client_options.port = port;
    client_options = ClientOptions("exchange", client_options);
    client = StartPeer(client_options);
    ASSERT_TRUE(
        server->WaitForStdout([](std::string_view out) { return out.size() >= kSize; }, 30s))
        << "s_server stderr:\n"
        << server->Stderr() << "client stderr:\n"
        << client->Stderr();
    EXPECT_EQ(server->Stdout(), PeerStream(client_options, "c2s"));
    ASSERT_TRUE(server->Write(PeerStream(client_options, "s2c"), 30s));
    nlohmann::json done;
    ASSERT_NO_FATAL_FAILURE(WaitForPeerEvent(*client, "done", &done));
    server->CloseStdin();
    EXPECT_EQ(server->Wait(10s), 0) << server->Stderr();
  });
}

INSTANTIATE_TEST_SUITE_P(Ciphers, KeysTest, ::testing::ValuesIn(kCases), CaseName<KeysCase>);

// Python's ssl on both ends, both traced, with --keylog beside a capture:
// the key log holds both sides' lines (each written once), equal to what
// the two processes logged themselves, and the plaintext is still captured.
class PythonKeysTest : public KeysParamTest<const char*> {};

TEST_P(PythonKeysTest, BothSidesBesideCapture) {
  PeerOptions server = ServerOptions("exchange", cert_);
  server.tls = GetParam();
  server.comm = "keyspeer";
  server.extra = {"--keylog", dir_ / "server.keys"};
  PeerOptions client = ClientOptions("exchange", server);
  client.extra = {"--keylog", dir_ / "client.keys"};
  const KeysRun run = {.mode = KeysMode::kBesideCapture,
                       .args = {"--comm", "keyspeer"},
                       .oracle = dir_ / "client.keys",
                       .other_end = dir_ / "server.keys",
                       .lines_per_session = std::string(GetParam()) == "1.3" ? 5u : 1u};
  PeerPair pair;
  const bool compared = KeysBeside(run, [&] {
    ASSERT_NO_FATAL_FAILURE(StartPair(server, client, &pair));
    nlohmann::json done;
    ASSERT_NO_FATAL_FAILURE(WaitForPeerEvent(*pair.client, "done", &done));
    ASSERT_NO_FATAL_FAILURE(WaitForPeerEvent(*pair.server, "done", &done));
  });
  if (!compared) return;
  ExpectBothEndsCaptured(pair, server, client);
}

INSTANTIATE_TEST_SUITE_P(Versions, PythonKeysTest, ::testing::Values("1.2", "1.3"), VersionName);

}  // namespace
}  // namespace tlstap::bpf_test
