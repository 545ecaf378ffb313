// tlstap keys on GnuTLS (libgnutls.so.30): gnutls-cli and gnutls-serv
// --echo, each traced alone (--comm), the other end the untraced one; the
// oracle is the traced program's own SSLKEYLOGFILE (GnuTLS 3.7 reads that
// name only). GnuTLS holds every secret until gnutls_deinit, so tlstap
// writes all the lines it logs: CLIENT_RANDOM for TLS 1.2;
// CLIENT_HANDSHAKE_TRAFFIC_SECRET, SERVER_HANDSHAKE_TRAFFIC_SECRET,
// CLIENT_TRAFFIC_SECRET_0, SERVER_TRAFFIC_SECRET_0 and EXPORTER_SECRET for
// TLS 1.3. Then tshark decrypting gnutls-cli's connection with nothing but
// tlstap's key log, and a library whose secrets cannot be located (no
// tlstap-keyprobe beside tlstap): named in one line, its plaintext still
// captured.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/bpf/keys_support.h"
#include "tests/bpf/proc_inspect.h"
#include "tests/bpf/subprocess.h"
#include "tests/bpf/test_env.h"

namespace tlstap::bpf_test {
namespace {

constexpr char kGnutlsServ[] = "/usr/bin/gnutls-serv";
constexpr char kGnutlsCli[] = "/usr/bin/gnutls-cli";

// `gnutls-serv --echo` on port with cert, then args.
SpawnOptions GnutlsServ(int port, const Certificate& cert, const std::vector<std::string>& args) {
  SpawnOptions o = Command({kGnutlsServ, "--echo", "-q", "-p", std::to_string(port),
                            "--x509certfile", cert.cert, "--x509keyfile", cert.key});
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  return o;
}

// `gnutls-cli` to 127.0.0.1:port, its log in logfile, args before the host.
SpawnOptions GnutlsCli(int port, const std::string& logfile, const std::vector<std::string>& args) {
  SpawnOptions o =
      Command({kGnutlsCli, "--insecure", "--logfile", logfile, "-p", std::to_string(port)});
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  o.argv.push_back("127.0.0.1");
  return o;
}

// gnutls-cli sends what it reads from stdin a line at a time.
std::string AsLines(std::string text) {
  for (size_t i = 63; i < text.size(); i += 64) text[i] = '\n';
  if (!text.empty()) text.back() = '\n';
  return text;
}

struct GnuTlsKeysCase {
  const char* name;
  const char* priority;
  size_t lines_per_session;
};

const GnuTlsKeysCase kGnuTlsCases[] = {
    {"tls1_2_aes_gcm", "NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-GCM", 1},
    {"tls1_2_chacha20", "NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+CHACHA20-POLY1305", 1},
    {"tls1_3_aes_256_gcm", "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-256-GCM", 5},
    {"tls1_3_aes_128_gcm", "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM", 5},
    {"tls1_3_chacha20", "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+CHACHA20-POLY1305", 5},
};

class GnuTlsKeysTest : public KeysParamTest<GnuTlsKeysCase> {
 protected:
  // gnutls-serv --echo and a gnutls-cli that sends payload and reads it
  // back; the one whose SSLKEYLOGFILE is oracle is the traced one.
  void Exchange(const std::string& payload, const std::string& oracle, bool log_server, int port) {
    const std::vector<std::string> priority = {"--priority", GetParam().priority};
    SpawnOptions serv = GnutlsServ(port, cert_, priority);
    SpawnOptions cli = GnutlsCli(port, oracle + ".cli.log", priority);
    (log_server ? serv : cli).env.push_back("SSLKEYLOGFILE=" + oracle);
    std::unique_ptr<Subprocess> server;
    ASSERT_NO_FATAL_FAILURE(StartListening(serv, port, &server));
    Subprocess client(cli);
    ASSERT_TRUE(client.ok()) << client.error();
    ASSERT_TRUE(client.Write(payload, 30s));
    ASSERT_TRUE(client.WaitForStdout(
        [&](std::string_view out) { return out.size() >= payload.size(); }, 30s))
        << "gnutls-cli got " << client.Stdout().size() << " of " << payload.size()
        << " bytes back; stderr:\n"
        << client.Stderr() << "server stderr:\n"
        << server->Stderr();
    EXPECT_EQ(client.Stdout(), payload);
    client.CloseStdin();
    EXPECT_EQ(client.Wait(10s), 0) << client.Stderr();
    Terminate(*server);
  }

  void OneSide(const char* comm, bool server_side) {
    const GnuTlsKeysCase& c = GetParam();
    const std::string oracle = dir_ / "oracle.keys";
    const KeysRun run = {
        .args = {"--comm", comm}, .oracle = oracle, .lines_per_session = c.lines_per_session};
    const bool compared = KeysBeside(run, [&] {
      const int port = FreeTcpPort();
      ASSERT_GT(port, 0);
      const std::string payload = AsLines(Payload(std::string("gnutls-keys/") + c.name, kSize));
      ASSERT_NO_FATAL_FAILURE(Exchange(payload, oracle, server_side, port));
    });
    if (!compared) return;
    EXPECT_EQ(Labels(KeyLines(tap_log_)), LoggedLabels(c.lines_per_session != 1));
  }
};

TEST_P(GnuTlsKeysTest, ClientSide) { OneSide("gnutls-cli", false); }

TEST_P(GnuTlsKeysTest, ServerSide) { OneSide("gnutls-serv", true); }

INSTANTIATE_TEST_SUITE_P(Ciphers, GnuTlsKeysTest, ::testing::ValuesIn(kGnuTlsCases),
                         CaseName<GnuTlsKeysCase>);

// tshark decrypts a loopback capture of gnutls-cli and gnutls-serv with
// nothing but tlstap's key log of the client, TLS 1.2 and 1.3: both
// directions' exact plaintext.
class GnuTlsTsharkTest : public KeysParamTest<const char*> {};

TEST_P(GnuTlsTsharkTest, TsharkDecryptsWithTheKeyLog) {
  ASSERT_NO_FATAL_FAILURE(tap_.Start(tap_log_, {"--comm", "gnutls-cli"}));
  const int port = FreeTcpPort();
  ASSERT_GT(port, 0);
  const std::vector<std::string> priority = {
      "--priority", std::string("NORMAL:-VERS-ALL:+VERS-TLS") + GetParam()};
  std::unique_ptr<Subprocess> server;
  ASSERT_NO_FATAL_FAILURE(StartListening(GnutlsServ(port, cert_, priority), port, &server));
  // Lines end in "\n" alone: gnutls-cli drops the "\r" of a "\r\n" at the end of what it read.
  const std::string request = "GET /tlstap-gnutls-keys HTTP/1.1\nHost: 127.0.0.1\n";
  std::string decrypted;
  ASSERT_NO_FATAL_FAILURE(DecryptWithKeyLog(
      port,
      [&] {
        Subprocess client(GnutlsCli(port, dir_ / "cli.log", priority));
        ASSERT_TRUE(client.ok()) << client.error();
        ASSERT_TRUE(client.Write(request, 30s));
        ASSERT_TRUE(client.WaitForStdout(
            [&](std::string_view out) { return out.size() >= request.size(); }, 30s))
            << "gnutls-cli's stdout: " << client.Stdout() << "\nits stderr:\n"
            << client.Stderr() << "its log:\n"
            << ReadFile(dir_ / "cli.log") << "server stderr:\n"
            << server->Stderr();
        EXPECT_EQ(client.Stdout(), request);
        client.CloseStdin();
        EXPECT_EQ(client.Wait(10s), 0) << client.Stderr();
        Terminate(*server);
      },
      &decrypted));
  // follow,tls,ascii: each block is its length and the bytes, the server's
  // blocks indented by a tab. The request as sent, and as echoed.
  const std::string sent = "\n" + std::to_string(request.size()) + "\n" + request;
  const std::string echoed = "\t" + std::to_string(request.size()) + "\n" + request;
  EXPECT_NE(decrypted.find(sent), std::string::npos) << NotDecrypted(decrypted);
  EXPECT_NE(decrypted.find(echoed), std::string::npos) << "the echo was not decrypted:\n"
                                                       << decrypted;
}

INSTANTIATE_TEST_SUITE_P(Versions, GnuTlsTsharkTest, ::testing::Values("1.2", "1.3"), VersionName);

// A library whose secrets cannot be located is named in one line, its keys
// are off, and its plaintext is still captured whole: tlstap copied where
// no tlstap-keyprobe sits next to it, gnutls-cli traced.
class KeysUnlocatedTest : public KeysBpfTest {};

TEST_F(KeysUnlocatedTest, NamedInOneLineDataStillCaptured) {
  const std::string lone = dir_ / "tlstap", events = dir_ / "ev.jsonl";
  std::filesystem::copy_file(kTlstap, lone);
  SpawnOptions options =
      Command({lone, "--keylog", tap_log_, "--comm", "gnutls-cli", "--json", "-w", events});
  options.stdin_pipe = false;
  Subprocess tap(options);
  ASSERT_TRUE(tap.ok()) << tap.error();
  ASSERT_TRUE(tap.WaitForStderr(
      [](std::string_view err) { return err.find("tlstap: capturing from") != err.npos; }, 120s))
      << tap.Stderr();
  const int port = FreeTcpPort();
  ASSERT_GT(port, 0);
  std::unique_ptr<Subprocess> server;
  ASSERT_NO_FATAL_FAILURE(StartListening(GnutlsServ(port, cert_, {}), port, &server));
  const std::string payload = AsLines(Payload("gnutls-keys/no-helper", kSize));
  Subprocess client(GnutlsCli(port, dir_ / "cli.log", {}));
  ASSERT_TRUE(client.ok()) << client.error();
  ASSERT_TRUE(client.Write(payload, 30s));
  ASSERT_TRUE(
      client.WaitForStdout([&](std::string_view out) { return out.size() >= payload.size(); }, 30s))
      << client.Stderr();
  client.CloseStdin();
  EXPECT_EQ(client.Wait(10s), 0) << client.Stderr();
  Terminate(*server);
  tap.Signal(SIGINT);
  ASSERT_EQ(tap.Wait(60s), 0) << tap.Stderr();

  // One line for libgnutls: its path, its build id (40 hex digits), why.
  const std::string said = TlstapLines(tap.Stderr());
  const std::string lib = std::filesystem::canonical("/usr/lib/x86_64-linux-gnu/libgnutls.so.30");
  const std::string head = "tlstap: keys: cannot locate secrets in " + lib + " (build id ";
  const std::string tail = "): cannot run " + lone +
                           "-keyprobe: No such file or directory; its sessions' keys are not "
                           "written, their plaintext still is\n";
  size_t at = said.find(head);
  ASSERT_NE(at, std::string::npos) << said;
  EXPECT_EQ(said.find(head, at + 1), std::string::npos) << "named twice:\n" << said;
  const std::string id = said.substr(at + head.size(), 40);
  EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << said;
  EXPECT_EQ(said.substr(at + head.size() + 40, tail.size()), tail) << said;
  EXPECT_TRUE(KeyLines(tap_log_).empty()) << ReadFile(tap_log_);
  // The client's plaintext, both ways, exactly.
  uint64_t tx = 0, rx = 0;
  std::istringstream in(ReadFile(events));
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    if (j.value("type", "") != "data" || j.value("comm", "") != "gnutls-cli") continue;
    EXPECT_EQ(j.value("lib", ""), "gnutls");
    (j.value("dir", "") == "tx" ? tx : rx) += j.value("len", uint64_t{0});
  }
  EXPECT_EQ(tx, payload.size());
  EXPECT_EQ(rx, payload.size());
}

}  // namespace
}  // namespace tlstap::bpf_test
