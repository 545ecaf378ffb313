// tests/progs/ktls_peer driven the way the bpf and vm tiers drive
// tls_peer.py (tests/bpf/python_peer.h): the same command line, payloads and
// lines, with and against tls_peer.py itself; the exit statuses of its own
// options. Needs no root. Where the kernel has no kTLS (this host) the apis
// that need it must refuse with status 4; with the tls module loaded they
// must work.
#include <gtest/gtest.h>
#include <openssl/crypto.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/bpf/python_peer.h"
#include "tests/bpf/test_env.h"

namespace tlstap::bpf_test {
namespace {

const std::vector<size_t> kSizes = {1, 100, 16 << 10, 1 << 20};

bool ktls_available() { return access("/proc/net/tls_stat", F_OK) == 0; }

// Which directions kTLS takes for a peer run with --ktls here.
bool expect_tx() { return ktls_available(); }
bool expect_rx(const std::string& tls) {
  return ktls_available() && (tls == "1.2" || OpenSSL_version_num() >= 0x30200000L);
}

// The JSON lines of a peer that has finished, with event name.
std::vector<nlohmann::json> events(const Subprocess& peer, const std::string& name) {
  std::vector<nlohmann::json> out;
  for (const std::string& line : peer.StdoutLines()) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.value("event", "") == name) out.push_back(j);
  }
  return out;
}

PeerOptions ktls_peer(PeerOptions o, std::vector<std::string> extra) {
  o.program = {KTLS_PEER};
  o.extra = std::move(extra);
  return o;
}

// One "sent" or "received" line per size, in order, each through api.
void expect_transfers(const Subprocess& peer, const std::string& name, const std::string& api) {
  std::vector<nlohmann::json> lines = events(peer, name);
  ASSERT_EQ(lines.size(), kSizes.size()) << peer.Stdout();
  for (size_t i = 0; i < kSizes.size(); ++i) {
    EXPECT_EQ(lines[i].at("bytes").get<size_t>(), kSizes[i]);
    EXPECT_EQ(lines[i].at("api").get<std::string>(), api);
    EXPECT_GE(lines[i].at("calls").get<size_t>(), 1u);
  }
}

class KtlsPeerTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir_, &cert_)); }

  // Options for a server in exchange mode at the test's TLS version.
  PeerOptions server_options() {
    PeerOptions o = ServerOptions("exchange", cert_);
    o.tls = GetParam();
    o.sizes = kSizes;
    o.tag = std::string("ktls") + GetParam();
    return o;
  }

  TempDir dir_;
  Certificate cert_;
};

// 1 B to 1 MiB each way through SSL_write/SSL_read with --ktls on both ends;
// "connected" says which directions the kernel took and the cipher.
TEST_P(KtlsPeerTest, ExchangeWithSslCalls) {
  PeerOptions server = ktls_peer(server_options(), {"--ktls"});
  PeerPair peers;
  ASSERT_NO_FATAL_FAILURE(StartPair(server, ClientOptions("exchange", server), &peers));
  EXPECT_EQ(peers.client_info.version, std::string("TLSv") + GetParam());
  EXPECT_EQ(peers.client->Wait(60s), 0) << peers.client->Stderr();
  EXPECT_EQ(peers.server->Wait(10s), 0) << peers.server->Stderr();

  for (Subprocess* peer : {peers.client.get(), peers.server.get()}) {
    std::vector<nlohmann::json> connected = events(*peer, "connected");
    ASSERT_EQ(connected.size(), 1u) << peer->Stdout();
    EXPECT_EQ(connected[0].at("ktls_tx").get<bool>(), expect_tx()) << connected[0];
    EXPECT_EQ(connected[0].at("ktls_rx").get<bool>(), expect_rx(GetParam())) << connected[0];
    EXPECT_EQ(connected[0].at("cipher").get<std::string>(), GetParam() == std::string("1.2")
                                                                ? "ECDHE-ECDSA-AES256-GCM-SHA384"
                                                                : "TLS_AES_256_GCM_SHA384");
    EXPECT_EQ(connected[0].at("libssl"), nlohmann::json::array({kSystemLibssl}));
    ASSERT_NO_FATAL_FAILURE(expect_transfers(*peer, "sent", "ssl"));
    ASSERT_NO_FATAL_FAILURE(expect_transfers(*peer, "received", "ssl"));
    EXPECT_EQ(events(*peer, "done").size(), 1u) << peer->Stdout();
  }
}

// The same payloads as tls_peer.py: ktls_peer's client against its server,
// and its server against ktls_peer's client; "ktls_tx" etc. present and
// false without --ktls.
TEST_P(KtlsPeerTest, SpeaksWithTlsPeerPy) {
  PeerOptions python_server = server_options();
  PeerPair first;
  ASSERT_NO_FATAL_FAILURE(
      StartPair(python_server, ktls_peer(ClientOptions("exchange", python_server), {}), &first));
  EXPECT_EQ(first.client->Wait(60s), 0) << first.client->Stderr();
  EXPECT_EQ(first.server->Wait(10s), 0) << first.server->Stderr();
  std::vector<nlohmann::json> connected = events(*first.client, "connected");
  ASSERT_EQ(connected.size(), 1u);
  EXPECT_FALSE(connected[0].at("ktls_tx").get<bool>());
  EXPECT_FALSE(connected[0].at("ktls_rx").get<bool>());

  PeerOptions server = ktls_peer(server_options(), {});
  PeerOptions python_client = ClientOptions("exchange", server);
  python_client.program.clear();
  python_client.extra.clear();
  PeerPair second;
  ASSERT_NO_FATAL_FAILURE(StartPair(server, python_client, &second));
  EXPECT_EQ(second.client->Wait(60s), 0) << second.client->Stderr();
  EXPECT_EQ(second.server->Wait(10s), 0) << second.server->Stderr();
}

INSTANTIATE_TEST_SUITE_P(Tls, KtlsPeerTest, ::testing::Values("1.2", "1.3"), [](const auto& info) {
  return info.param == std::string("1.2") ? "Tls12" : "Tls13";
});

// A payload that arrives different from the one expected: status 3.
TEST(KtlsPeer, AlteredPayloadExits3) {
  TempDir dir;
  Certificate cert;
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
  PeerOptions server = ktls_peer(ServerOptions("exchange", cert), {});
  server.tag = "a";
  PeerOptions client = ClientOptions("exchange", server);
  client.tag = "b";
  PeerPair peers;
  ASSERT_NO_FATAL_FAILURE(StartPair(server, client, &peers));
  EXPECT_EQ(peers.server->Wait(30s), 3);
  EXPECT_EQ(peers.server->Stderr(), "ktls_peer: payload a/c2s/100 arrived altered\n");
}

// --send-api write|sendfile and --recv-api read need kTLS in their
// direction. Without --ktls that is never so: status 4 and why, after the
// "connected" line. With --ktls it depends on the kernel.
TEST(KtlsPeer, ApisThatNeedKtls) {
  TempDir dir;
  Certificate cert;
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
  struct Case {
    std::vector<std::string> args;
    const char* tls;
    std::string refusal;  // the end of the one line when kTLS is missing
  };
  const std::string no_module =
      "the tls module is not loaded (no /proc/net/tls_stat; modprobe tls)";
  const Case cases[] = {
      {{"--send-api", "write"},
       "1.3",
       "--send-api write needs kTLS TX, which is not active: --ktls was not given"},
      {{"--send-api", "sendfile"},
       "1.3",
       "--send-api sendfile needs kTLS TX, which is not active: --ktls was not given"},
      {{"--recv-api", "read"},
       "1.2",
       "--recv-api read needs kTLS RX, which is not active: --ktls was not given"},
      {{"--ktls", "--send-api", "write"},
       "1.3",
       "--send-api write needs kTLS TX, which is not active: " + no_module},
      {{"--ktls", "--send-api", "sendfile"},
       "1.2",
       "--send-api sendfile needs kTLS TX, which is not active: " + no_module},
      {{"--ktls", "--recv-api", "read"},
       "1.2",
       "--recv-api read needs kTLS RX, which is not active: " + no_module},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::PrintToString(c.args) + " TLS " + c.tls);
    PeerOptions server = ktls_peer(ServerOptions("exchange", cert), {"--ktls"});
    server.tls = c.tls;
    PeerPair peers;
    ASSERT_NO_FATAL_FAILURE(
        StartPair(server, ktls_peer(ClientOptions("exchange", server), c.args), &peers));
    bool ktls_given = c.args[0] == "--ktls";
    if (ktls_given && ktls_available()) {
      EXPECT_EQ(peers.client->Wait(30s), 0) << peers.client->Stderr();
      EXPECT_EQ(peers.server->Wait(10s), 0) << peers.server->Stderr();
    } else {
      EXPECT_EQ(peers.client->Wait(30s), 4);
      EXPECT_EQ(peers.client->Stderr(), "ktls_peer: " + c.refusal + "\n");
      EXPECT_EQ(events(*peers.client, "done").size(), 0u);
    }
  }
}

}  // namespace
}  // namespace tlstap::bpf_test
