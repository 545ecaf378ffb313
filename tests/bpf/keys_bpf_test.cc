// tlstap keys and --keylog: the NSS key log tlstap writes for a traced
// program holds exactly the lines that program's own library writes to its
// SSLKEYLOGFILE (the oracle): openssl s_client and s_server (-keylogfile)
// and Python's ssl (ctx.keylog_filename), TLS 1.2 and 1.3, AES-GCM and
// ChaCha20, client and server sides; and Go's crypto/tls, TLS 1.2 and 1.3,
// with and without a KeyLogWriter. The untraced peer is left out by
// --comm, so each case proves one side alone. Files are created 0600.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <sstream>
#include <thread>

#include "tests/bpf/proc_inspect.h"
#include "tests/bpf/python_peer.h"
#include "tests/bpf/subprocess.h"
#include "tests/bpf/test_env.h"
#include "tests/bpf/tlstap_session.h"

namespace tlstap::bpf_test {
namespace {

constexpr std::string_view kKeysReady = "tlstap: writing the TLS keys";
constexpr size_t kSize = 100;

// The key log lines of a file: comments (OpenSSL's header) and blanks left out.
std::multiset<std::string> KeyLines(const std::string& path) {
  std::multiset<std::string> lines;
  std::istringstream in(ReadFile(path));
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line[0] != '#') lines.insert(line);
  }
  return lines;
}

// tlstap's own lines of its stderr.
std::string TlstapLines(const std::string& err) {
  std::string out;
  std::istringstream in(err);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("tlstap: ")) out += line + "\n";
  }
  return out;
}

std::string Show(const std::multiset<std::string>& lines) {
  std::string out;
  for (const std::string& l : lines) out += "  " + l + "\n";
  return out.empty() ? "  (none)\n" : out;
}

// `tlstap keys -w path args...`, started and stopped like TlstapSession.
class KeysTap {
 public:
  void Start(const std::string& path, const std::vector<std::string>& args) {
    SpawnOptions options = Command({kTlstap, "keys", "-w", path});
    options.stdin_pipe = false;
    options.argv.insert(options.argv.end(), args.begin(), args.end());
    process_ = std::make_unique<Subprocess>(options);
    ASSERT_TRUE(process_->ok()) << process_->error();
    ASSERT_TRUE(process_->WaitForStderr(
        [](std::string_view err) { return err.find(kKeysReady) != std::string_view::npos; }, 120s))
        << process_->command() << " did not start; stderr:\n"
        << process_->Stderr();
  }
  void Stop() {
    process_->Signal(SIGINT);
    std::optional<int> status = process_->Wait(60s);
    ASSERT_TRUE(status.has_value()) << "tlstap keys did not stop";
    ASSERT_EQ(*status, 0) << process_->Stderr();
  }
  std::string Stderr() const { return process_ ? process_->Stderr() : ""; }
  bool WaitForStderr(const std::function<bool(std::string_view)>& pred,
                     std::chrono::milliseconds timeout) {
    return process_ && process_->WaitForStderr(pred, timeout);
  }

 private:
  std::unique_ptr<Subprocess> process_;
};

void ExpectPrivate(const std::string& path) {
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0) << path;
  EXPECT_EQ(st.st_mode & 07777, 0600u) << path;
}

// tlstap's lines equal the oracle's, which are the session's whole key log.
void ExpectSameKeys(const std::string& tap_path, const std::multiset<std::string>& oracle,
                    size_t lines_per_session, const std::string& tap_stderr) {
  ASSERT_NO_FATAL_FAILURE(ExpectPrivate(tap_path));
  std::multiset<std::string> tap = KeyLines(tap_path);
  ASSERT_EQ(oracle.size() % lines_per_session, 0u) << "oracle:\n" << Show(oracle);
  ASSERT_FALSE(oracle.empty()) << "the program logged no keys";
  EXPECT_EQ(tap, oracle) << "tlstap wrote:\n"
                         << Show(tap) << "the program's own key log:\n"
                         << Show(oracle) << "tlstap stderr:\n"
                         << tap_stderr;
}

struct KeysCase {
  const char* name;
  const char* tls;  // "1.2" / "1.3"
  // openssl s_client/s_server arguments choosing the cipher; Python's TLS 1.2 cipher list
  std::vector<std::string> openssl_cipher;
  std::string python_ciphers;
};

size_t LinesPerSession(const KeysCase& c) { return std::string(c.tls) == "1.3" ? 5 : 1; }

std::string TlsFlag(const KeysCase& c) {
  return std::string(c.tls) == "1.3" ? "-tls1_3" : "-tls1_2";
}

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

class KeysTest : public BpfTest, public ::testing::WithParamInterface<KeysCase> {};

// s_client traced (tlstap keys --comm openssl), a Python server not.
TEST_P(KeysTest, OpensslClientSide) {
  const KeysCase& c = GetParam();
  TempDir dir;
  Certificate cert;
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
  const std::string tap_log = dir / "tap.keys", oracle = dir / "s_client.keys";
  KeysTap tap;
  ASSERT_NO_FATAL_FAILURE(tap.Start(tap_log, {"--comm", "openssl"}));

  PeerOptions server = ServerOptions("exchange", cert);
  server.tls = c.tls;
  server.sizes = {kSize};
  if (!c.python_ciphers.empty()) server.extra = {"--ciphers", c.python_ciphers};
  auto peer = StartPeer(server);
  int port = 0;
  ASSERT_NO_FATAL_FAILURE(WaitForListening(*peer, &port));
  std::vector<std::string> argv = {
      kOpenssl,      "s_client", "-connect", HostPort("127.0.0.1", port), "-quiet", "-no_ign_eof",
      "-keylogfile", oracle,     TlsFlag(c)};
  argv.insert(argv.end(), c.openssl_cipher.begin(), c.openssl_cipher.end());
  Subprocess client(Command(argv));
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
  ASSERT_NO_FATAL_FAILURE(tap.Stop());
  ExpectSameKeys(tap_log, KeyLines(oracle), LinesPerSession(c), tap.Stderr());
}

// s_server traced, a Python client not.
TEST_P(KeysTest, OpensslServerSide) {
  const KeysCase& c = GetParam();
  TempDir dir;
  Certificate cert;
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
  const std::string tap_log = dir / "tap.keys", oracle = dir / "s_server.keys";
  KeysTap tap;
  ASSERT_NO_FATAL_FAILURE(tap.Start(tap_log, {"--comm", "openssl"}));

  const int port = FreeTcpPort();
  ASSERT_GT(port, 0);
  std::vector<std::string> argv = {kOpenssl,   "s_server", "-accept", HostPort("127.0.0.1", port),
                                   "-cert",    cert.cert,  "-key",    cert.key,
                                   "-naccept", "1",        "-quiet",  "-keylogfile",
                                   oracle,     TlsFlag(c)};
  argv.insert(argv.end(), c.openssl_cipher.begin(), c.openssl_cipher.end());
  Subprocess server(Command(argv));
  ASSERT_TRUE(server.ok()) << server.error();
  ASSERT_TRUE(WaitForListen(port, 10s)) << server.Stderr();

  PeerOptions client_options = ServerOptions("exchange", cert);
  client_options.tls = c.tls;
  client_options.sizes = {kSize};
  client_options.port = port;
  client_options = ClientOptions("exchange", client_options);
  auto client = StartPeer(client_options);
  ASSERT_TRUE(server.WaitForStdout([](std::string_view out) { return out.size() >= kSize; }, 30s))
      << "s_server stderr:\n"
      << server.Stderr() << "client stderr:\n"
      << client->Stderr();
  EXPECT_EQ(server.Stdout(), PeerStream(client_options, "c2s"));
  ASSERT_TRUE(server.Write(PeerStream(client_options, "s2c"), 30s));
  nlohmann::json done;
  ASSERT_NO_FATAL_FAILURE(WaitForPeerEvent(*client, "done", &done));
  server.CloseStdin();
  EXPECT_EQ(server.Wait(10s), 0) << server.Stderr();
  ASSERT_NO_FATAL_FAILURE(tap.Stop());
  ExpectSameKeys(tap_log, KeyLines(oracle), LinesPerSession(c), tap.Stderr());
}

INSTANTIATE_TEST_SUITE_P(Ciphers, KeysTest, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<KeysCase>& info) {
                           return std::string(info.param.name);
                         });

// Python's ssl on both ends, both traced, with --keylog beside a capture:
// the key log holds both sides' lines (each written once), equal to what
// the two processes logged themselves, and the plaintext is still captured.
class PythonKeysTest : public BpfTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(PythonKeysTest, BothSidesBesideCapture) {
  TempDir dir;
  Certificate cert;
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
  const std::string tap_log = dir / "tap.keys";
  TlstapSession tap;
  ASSERT_NO_FATAL_FAILURE(tap.Start({"--keylog", tap_log, "--comm", "keyspeer"}));

  PeerOptions server = ServerOptions("exchange", cert);
  server.tls = GetParam();
  server.comm = "keyspeer";
  server.extra = {"--keylog", dir / "server.keys"};
  PeerOptions client = ClientOptions("exchange", server);
  client.extra = {"--keylog", dir / "client.keys"};
  PeerPair pair;
  ASSERT_NO_FATAL_FAILURE(StartPair(server, client, &pair));
  nlohmann::json done;
  ASSERT_NO_FATAL_FAILURE(WaitForPeerEvent(*pair.client, "done", &done));
  ASSERT_NO_FATAL_FAILURE(WaitForPeerEvent(*pair.server, "done", &done));
  Capture capture;
  ASSERT_NO_FATAL_FAILURE(tap.Stop(&capture));

  std::multiset<std::string> client_lines = KeyLines(dir / "client.keys");
  std::multiset<std::string> server_lines = KeyLines(dir / "server.keys");
  EXPECT_EQ(client_lines, server_lines) << "the two ends logged different secrets";
  ExpectSameKeys(tap_log, client_lines, std::string(GetParam()) == "1.3" ? 5 : 1,
                 capture.stderr_text);
  EXPECT_EQ(capture.Stream(pair.client_info.pid, "tx"), PeerStream(client, "c2s"));
  EXPECT_EQ(capture.Stream(pair.server_info.pid, "tx"), PeerStream(server, "s2c"));
  ExpectNoLoss(capture);
}

INSTANTIATE_TEST_SUITE_P(Versions, PythonKeysTest, ::testing::Values("1.2", "1.3"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           return std::string(info.param[2] == '2' ? "tls1_2" : "tls1_3");
                         });

// Go's crypto/tls (tests/progs/tls_go, golang-go): secrets read where Go
// hands them to its own key log, (*tls.Config).writeKeyLog, which it calls
// at every secret whether or not the program set a KeyLogWriter. Go 1.19
// logs CLIENT_RANDOM for TLS 1.2 and four lines for TLS 1.3 (no
// EXPORTER_SECRET).
class GoKeysTest : public BpfTest, public ::testing::WithParamInterface<const char*> {
 protected:
  void SetUp() override {
    BpfTest::SetUp();
    for (const char* build : {"tls_go", "tls_go_pie"}) {
      ASSERT_TRUE(std::filesystem::exists(GoPeer(build)))
          << GoPeer(build) << " was not built: golang-go is missing (scripts/install-deps.sh)";
    }
  }
  static std::string GoPeer(const char* build) { return std::string(kGoPeerDir) + "/" + build; }
  size_t LinesPerSession() const { return std::string(GetParam()) == "1.3" ? 4 : 1; }
  // Waits until tap has attached to the Go program of pid, which started
  // after it: a handshake before then would go unseen.
  template <typename Tap>
  static void WaitForAttach(Tap& tap, pid_t pid) {
    const std::string said = "pid " + std::to_string(pid) + " (";
    ASSERT_TRUE(tap.WaitForStderr(
        [&](std::string_view err) { return err.find(said) != std::string_view::npos; }, 30s))
        << "tlstap did not attach to pid " << pid << ":\n"
        << TlstapLines(tap.Stderr());
  }
  // A Go server, then (once tap has attached to it) its client, run to the end.
  template <typename Tap>
  void RunPair(Tap& tap, const PeerOptions& server, PeerOptions client, PeerPair* pair) {
    pair->server = StartPeer(server);
    ASSERT_TRUE(pair->server->ok()) << pair->server->error();
    ASSERT_NO_FATAL_FAILURE(WaitForListening(*pair->server, &client.port));
    ASSERT_NO_FATAL_FAILURE(WaitForAttach(tap, pair->server->pid()));
    pair->client = StartPeer(client);
    ASSERT_TRUE(pair->client->ok()) << pair->client->error();
    ASSERT_NO_FATAL_FAILURE(WaitForConnected(*pair->client, &pair->client_info));
    ASSERT_NO_FATAL_FAILURE(WaitForConnected(*pair->server, &pair->server_info));
    ASSERT_EQ(pair->client_info.version, std::string("TLSv") + GetParam());
    ASSERT_EQ(pair->client->Wait(60s), 0) << pair->client->Stderr();
    ASSERT_EQ(pair->server->Wait(10s), 0) << pair->server->Stderr();
  }
};

// tlstap keys with both ends traced, each logging its own secrets: one
// file, each line once, equal to what either end logged.
TEST_P(GoKeysTest, BothSidesKeysOnly) {
  TempDir dir;
  Certificate cert;
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
  const std::string tap_log = dir / "tap.keys";
  KeysTap tap;
  ASSERT_NO_FATAL_FAILURE(tap.Start(tap_log, {"--comm", "tls_go"}));

  PeerOptions server = ServerOptions("exchange", cert);
  server.program = {GoPeer("tls_go")};
  server.tls = GetParam();
  server.extra = {"--keylog", dir / "server.keys"};
  PeerOptions client = ClientOptions("exchange", server);
  client.extra = {"--keylog", dir / "client.keys"};
  PeerPair pair;
  ASSERT_NO_FATAL_FAILURE(RunPair(tap, server, client, &pair));
  ASSERT_NO_FATAL_FAILURE(tap.Stop());

  std::multiset<std::string> client_lines = KeyLines(dir / "client.keys");
  EXPECT_EQ(client_lines, KeyLines(dir / "server.keys")) << "the two ends logged different secrets";
  ExpectSameKeys(tap_log, client_lines, LinesPerSession(), tap.Stderr());
}

// A server that sets no KeyLogWriter (tls_go_pie, traced alone) still has
// its secrets written: exactly the lines its untraced client logged. With
// --lib go, tlstap keys starts with no program to hook and waits; the
// server then gets one probe, writeKeyLog's, and no plaintext probes.
TEST_P(GoKeysTest, ServerWithoutKeyLogWriter) {
  TempDir dir;
  Certificate cert;
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
  const std::string tap_log = dir / "tap.keys";
  KeysTap tap;
  ASSERT_NO_FATAL_FAILURE(tap.Start(tap_log, {"--lib", "go", "--comm", "tls_go_pie", "-v"}));

  PeerOptions server = ServerOptions("exchange", cert);
  server.program = {GoPeer("tls_go_pie")};
  server.tls = GetParam();
  PeerOptions client = ClientOptions("exchange", server);
  client.program = {GoPeer("tls_go")};
  client.extra = {"--keylog", dir / "client.keys"};
  PeerPair pair;
  ASSERT_NO_FATAL_FAILURE(RunPair(tap, server, client, &pair));
  ASSERT_NO_FATAL_FAILURE(tap.Stop());
  const std::string said = TlstapLines(tap.Stderr());  // (-v: without libbpf's log)
  ExpectSameKeys(tap_log, KeyLines(dir / "client.keys"), LinesPerSession(), said);
  EXPECT_NE(said.find("tlstap: attached 1 probes to " + GoPeer("tls_go_pie") + " (go "),
            std::string::npos)
      << said;
}

// --keylog beside a normal capture: the same key log, and the plaintext of
// both ends still captured whole.
TEST_P(GoKeysTest, BothSidesBesideCapture) {
  TempDir dir;
  Certificate cert;
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
  const std::string tap_log = dir / "tap.keys";
  TlstapSession tap;
  ASSERT_NO_FATAL_FAILURE(tap.Start({"--keylog", tap_log, "--comm", "tls_go"}));

  PeerOptions server = ServerOptions("exchange", cert);
  server.program = {GoPeer("tls_go")};
  server.tls = GetParam();
  server.sizes = {100, 16 << 10};
  server.tag = std::string("gokeys") + GetParam();
  server.extra = {"--keylog", dir / "server.keys"};
  PeerOptions client = ClientOptions("exchange", server);
  client.extra = {"--keylog", dir / "client.keys"};
  PeerPair pair;
  ASSERT_NO_FATAL_FAILURE(RunPair(tap, server, client, &pair));
  Capture capture;
  ASSERT_NO_FATAL_FAILURE(tap.Stop(&capture));

  ExpectSameKeys(tap_log, KeyLines(dir / "client.keys"), LinesPerSession(), capture.stderr_text);
  EXPECT_EQ(capture.Stream(pair.client_info.pid, "tx"), PeerStream(client, "c2s"));
  EXPECT_EQ(capture.Stream(pair.server_info.pid, "tx"), PeerStream(server, "s2c"));
  ExpectNoLoss(capture);
}

// dumpcap on lo, limited to one TCP port and a UDP port of its own, whose
// datagrams mark how far the file has got: dumpcap writes packets in order,
// and the kernel hands them over in blocks, so "capturing" on stderr does
// not mean live, and a stop right after the traffic would miss its end.
class LoopbackCapture {
 public:
  void Start(const std::string& pcap, int tcp_port) {
    pcap_ = pcap;
    marker_ = socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_GE(marker_, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    ASSERT_EQ(bind(marker_, reinterpret_cast<sockaddr*>(&addr), len), 0);
    ASSERT_EQ(getsockname(marker_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    marker_addr_ = addr;
    const std::string filter = "tcp port " + std::to_string(tcp_port) + " or udp port " +
                               std::to_string(ntohs(addr.sin_port));
    process_ = std::make_unique<Subprocess>(
        Command({"/usr/bin/dumpcap", "-q", "-i", "lo", "-f", filter, "-w", pcap}));
    ASSERT_TRUE(process_->ok()) << process_->error();
    ASSERT_NO_FATAL_FAILURE(Mark("start"));
  }
  // Returns once everything sent before it is in the file: sends a datagram
  // naming this mark until its bytes appear there.
  void Mark(const std::string& name) {
    const std::string payload = "tlstap-capture-mark-" + name;
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
      sendto(marker_, payload.data(), payload.size(), 0,
             reinterpret_cast<const sockaddr*>(&marker_addr_), sizeof(marker_addr_));
      std::this_thread::sleep_for(20ms);
      if (ReadFile(pcap_).find(payload) != std::string::npos) return;
    }
    FAIL() << "dumpcap did not record mark " << name << " within 30 s: " << process_->Stderr();
  }
  void Stop() {
    ASSERT_NO_FATAL_FAILURE(Mark("end"));
    process_->Signal(SIGINT);
    ASSERT_EQ(process_->Wait(30s), 0) << process_->Stderr();
  }
  ~LoopbackCapture() {
    if (marker_ >= 0) close(marker_);
  }

 private:
  std::string pcap_;
  int marker_ = -1;
  sockaddr_in marker_addr_{};
  std::unique_ptr<Subprocess> process_;
};

// The point of it all: tshark decrypts the recorded loopback traffic of a
// Go connection with nothing but tlstap's key log (no KeyLogWriter set).
TEST_P(GoKeysTest, TsharkDecryptsWithTheKeyLog) {
  TempDir dir;
  Certificate cert;
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
  const std::string tap_log = dir / "tap.keys", pcap = dir / "lo.pcapng";
  KeysTap tap;
  ASSERT_NO_FATAL_FAILURE(tap.Start(tap_log, {"--comm", "tls_go"}));

  PeerOptions server_options = ServerOptions("exchange", cert);
  server_options.program = {GoPeer("tls_go")};
  server_options.tls = GetParam();
  server_options.tag = std::string("tshark") + GetParam();
  std::unique_ptr<Subprocess> server = StartPeer(server_options);
  ASSERT_TRUE(server->ok()) << server->error();
  PeerOptions client_options = ClientOptions("exchange", server_options);
  ASSERT_NO_FATAL_FAILURE(WaitForListening(*server, &client_options.port));
  ASSERT_NO_FATAL_FAILURE(WaitForAttach(tap, server->pid()));
  LoopbackCapture wire;
  ASSERT_NO_FATAL_FAILURE(wire.Start(pcap, client_options.port));
  std::unique_ptr<Subprocess> client = StartPeer(client_options);
  ASSERT_TRUE(client->ok()) << client->error();
  ASSERT_EQ(client->Wait(60s), 0) << client->Stderr();
  ASSERT_EQ(server->Wait(10s), 0) << server->Stderr();
  ASSERT_NO_FATAL_FAILURE(wire.Stop());
  ASSERT_NO_FATAL_FAILURE(tap.Stop());

  Subprocess tshark(
      Command(TsharkTls(pcap, client_options.port,
                        {"-o", "tls.keylog_file:" + tap_log, "-q", "-z", "follow,tls,ascii,0"})));
  ASSERT_TRUE(tshark.ok()) << tshark.error();
  ASSERT_EQ(tshark.Wait(60s), 0) << tshark.Stderr();
  const std::string decrypted = tshark.Stdout();
  EXPECT_NE(decrypted.find(PeerStream(server_options, "c2s")), std::string::npos)
      << "tshark did not decrypt the request with tlstap's key log:\n"
      << decrypted << "\nkey log:\n"
      << ReadFile(tap_log);
  EXPECT_NE(decrypted.find(PeerStream(server_options, "s2c")), std::string::npos) << decrypted;
}

INSTANTIATE_TEST_SUITE_P(Versions, GoKeysTest, ::testing::Values("1.2", "1.3"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           return std::string(info.param[2] == '2' ? "tls1_2" : "tls1_3");
                         });

// GnuTLS (libgnutls.so.30): gnutls-cli and gnutls-serv --echo, each traced
// alone (--comm), the other end the untraced one; the oracle is the traced
// program's own SSLKEYLOGFILE (GnuTLS 3.7 reads that name only). GnuTLS
// holds every secret until gnutls_deinit, so tlstap writes all the lines it
// logs: CLIENT_RANDOM for TLS 1.2; CLIENT_HANDSHAKE_TRAFFIC_SECRET,
// SERVER_HANDSHAKE_TRAFFIC_SECRET, CLIENT_TRAFFIC_SECRET_0,
// SERVER_TRAFFIC_SECRET_0 and EXPORTER_SECRET for TLS 1.3.
constexpr char kGnutlsServ[] = "/usr/bin/gnutls-serv";
constexpr char kGnutlsCli[] = "/usr/bin/gnutls-cli";

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

const std::set<std::string> kGnuTls13Labels = {
    "CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_TRAFFIC_SECRET_0",
    "SERVER_TRAFFIC_SECRET_0", "EXPORTER_SECRET"};

std::set<std::string> Labels(const std::multiset<std::string>& lines) {
  std::set<std::string> labels;
  for (const std::string& l : lines) labels.insert(l.substr(0, l.find(' ')));
  return labels;
}

// gnutls-cli sends what it reads from stdin a line at a time.
std::string AsLines(std::string text) {
  for (size_t i = 63; i < text.size(); i += 64) text[i] = '\n';
  if (!text.empty()) text.back() = '\n';
  return text;
}

class GnuTlsKeysTest : public BpfTest, public ::testing::WithParamInterface<GnuTlsKeysCase> {
 protected:
  // gnutls-serv --echo and a gnutls-cli that sends payload and reads it
  // back; the one whose SSLKEYLOGFILE is oracle is the traced one.
  void Exchange(const Certificate& cert, const std::string& payload, const std::string& oracle,
                bool log_server, int port) {
    SpawnOptions serv =
        Command({kGnutlsServ, "--echo", "-q", "-p", std::to_string(port), "--x509certfile",
                 cert.cert, "--x509keyfile", cert.key, "--priority", GetParam().priority});
    SpawnOptions cli =
        Command({kGnutlsCli, "--insecure", "--logfile", oracle + ".cli.log", "-p",
                 std::to_string(port), "--priority", GetParam().priority, "127.0.0.1"});
    (log_server ? serv : cli).env.push_back("SSLKEYLOGFILE=" + oracle);
    Subprocess server(serv);
    ASSERT_TRUE(server.ok()) << server.error();
    ASSERT_TRUE(WaitForListen(port, 10s)) << server.Stderr();
    Subprocess client(cli);
    ASSERT_TRUE(client.ok()) << client.error();
    ASSERT_TRUE(client.Write(payload, 30s));
    ASSERT_TRUE(client.WaitForStdout(
        [&](std::string_view out) { return out.size() >= payload.size(); }, 30s))
        << "gnutls-cli got " << client.Stdout().size() << " of " << payload.size()
        << " bytes back; stderr:\n"
        << client.Stderr() << "server stderr:\n"
        << server.Stderr();
    EXPECT_EQ(client.Stdout(), payload);
    client.CloseStdin();
    EXPECT_EQ(client.Wait(10s), 0) << client.Stderr();
    server.Signal(SIGTERM);
    server.Wait(10s);
  }

  void OneSide(const char* comm, bool server_side) {
    const GnuTlsKeysCase& c = GetParam();
    TempDir dir;
    Certificate cert;
    ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
    const std::string tap_log = dir / "tap.keys", oracle = dir / "oracle.keys";
    KeysTap tap;
    ASSERT_NO_FATAL_FAILURE(tap.Start(tap_log, {"--comm", comm}));
    const int port = FreeTcpPort();
    ASSERT_GT(port, 0);
    const std::string payload = AsLines(Payload(std::string("gnutls-keys/") + c.name, kSize));
    ASSERT_NO_FATAL_FAILURE(Exchange(cert, payload, oracle, server_side, port));
    ASSERT_NO_FATAL_FAILURE(tap.Stop());
    std::multiset<std::string> logged = KeyLines(oracle);
    ExpectSameKeys(tap_log, logged, c.lines_per_session, tap.Stderr());
    EXPECT_EQ(Labels(KeyLines(tap_log)),
              c.lines_per_session == 1 ? std::set<std::string>{"CLIENT_RANDOM"} : kGnuTls13Labels);
  }
};

TEST_P(GnuTlsKeysTest, ClientSide) { OneSide("gnutls-cli", false); }

TEST_P(GnuTlsKeysTest, ServerSide) { OneSide("gnutls-serv", true); }

INSTANTIATE_TEST_SUITE_P(Ciphers, GnuTlsKeysTest, ::testing::ValuesIn(kGnuTlsCases),
                         [](const ::testing::TestParamInfo<GnuTlsKeysCase>& info) {
                           return std::string(info.param.name);
                         });

// BoringSSL (Debian's android libssl.so.0, tests/progs/tls_boring), each side
// traced alone against an untraced openssl s_client or s_server, which
// picks the TLS 1.3 suite (BoringSSL lets no program choose): the oracle is
// tls_boring's own key log (SSL_CTX_set_keylog_callback into
// SSLKEYLOGFILE). tlstap writes CLIENT_RANDOM for TLS 1.2 and all five
// TLS 1.3 lines: the two handshake traffic secrets read during
// SSL_do_handshake (BoringSSL frees the state that holds them before it
// returns), the others at the first call that moves data.
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

class BoringKeysTest : public BpfTest, public ::testing::WithParamInterface<BoringKeysCase> {
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
  // The oracle's lines, every label BoringSSL logs.
  std::multiset<std::string> Expected(const std::string& oracle) const {
    std::multiset<std::string> all = KeyLines(oracle);
    const std::set<std::string> logged_labels =
        Tls13() ? kGnuTls13Labels : std::set<std::string>{"CLIENT_RANDOM"};
    EXPECT_EQ(Labels(all), logged_labels) << "tls_boring's own key log:\n" << Show(all);
    return all;
  }
  void Check(const std::string& tap_log, const std::string& oracle, const std::string& err) {
    ExpectSameKeys(tap_log, Expected(oracle), Tls13() ? 5 : 1, err);
    EXPECT_EQ(Labels(KeyLines(tap_log)),
              Tls13() ? kGnuTls13Labels : std::set<std::string>{"CLIENT_RANDOM"});
  }
};

// tls_boring client traced, openssl s_server not.
TEST_P(BoringKeysTest, ClientSide) {
  const BoringKeysCase& c = GetParam();
  TempDir dir;
  Certificate cert;
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
  const std::string tap_log = dir / "tap.keys", oracle = dir / "boring.keys";
  // A tls_boring that maps the library before tlstap starts and never
  // connects: tlstap finds the library at its start, not while the client
  // already runs.
  const int holder_port = FreeTcpPort();
  ASSERT_GT(holder_port, 0);
  Subprocess holder(Boring({"server", std::to_string(holder_port), cert.cert, cert.key, c.tls, "1"},
                           dir / "holder.keys"));
  ASSERT_TRUE(holder.ok()) << holder.error();
  ASSERT_TRUE(WaitForListen(holder_port, 10s)) << holder.Stderr();
  KeysTap tap;
  ASSERT_NO_FATAL_FAILURE(tap.Start(tap_log, {"--comm", "tls_boring"}));
  const int port = FreeTcpPort();
  ASSERT_GT(port, 0);
  std::vector<std::string> argv = {
      kOpenssl,   "s_server", "-accept", HostPort("127.0.0.1", port),
      "-cert",    cert.cert,  "-key",    cert.key,
      "-naccept", "1",        "-quiet",  std::string(Tls13() ? "-tls1_3" : "-tls1_2")};
  argv.insert(argv.end(), c.openssl_cipher.begin(), c.openssl_cipher.end());
  Subprocess server(Command(argv));
  ASSERT_TRUE(server.ok()) << server.error();
  ASSERT_TRUE(WaitForListen(port, 10s)) << server.Stderr();
  const std::string payload = Payload(std::string("boring-keys/") + c.name, kSize);
  Subprocess client(Boring({"client", std::to_string(port), c.tls}, oracle));
  ASSERT_TRUE(client.ok()) << client.error();
  ASSERT_TRUE(client.Write(payload, 30s));
  client.CloseStdin();
  ASSERT_TRUE(server.WaitForStdout([](std::string_view out) { return out.size() >= kSize; }, 30s))
      << "s_server stderr:\n"
      << server.Stderr() << "client stderr:\n"
      << client.Stderr();
  EXPECT_EQ(server.Stdout(), payload);
  ASSERT_TRUE(server.Write(payload, 30s));
  EXPECT_EQ(client.Wait(30s), 0) << client.Stderr();
  EXPECT_EQ(client.Stdout(), payload);
  server.CloseStdin();
  server.Wait(10s);
  ASSERT_NO_FATAL_FAILURE(tap.Stop());
  holder.Signal(SIGTERM);
  holder.Wait(10s);
  Check(tap_log, oracle, tap.Stderr());
}

// tls_boring server traced, openssl s_client not.
TEST_P(BoringKeysTest, ServerSide) {
  const BoringKeysCase& c = GetParam();
  TempDir dir;
  Certificate cert;
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
  const std::string tap_log = dir / "tap.keys", oracle = dir / "boring.keys";
  const int port = FreeTcpPort();
  ASSERT_GT(port, 0);
  // The server maps the library before tlstap starts: found at its start.
  Subprocess server(Boring(
      {"server", std::to_string(port), cert.cert, cert.key, c.tls, std::to_string(kSize)}, oracle));
  ASSERT_TRUE(server.ok()) << server.error();
  ASSERT_TRUE(WaitForListen(port, 10s)) << server.Stderr();
  KeysTap tap;
  ASSERT_NO_FATAL_FAILURE(tap.Start(tap_log, {"--comm", "tls_boring"}));
  std::vector<std::string> argv = {kOpenssl,
                                   "s_client",
                                   "-connect",
                                   HostPort("127.0.0.1", port),
                                   "-quiet",
                                   "-no_ign_eof",
                                   std::string(Tls13() ? "-tls1_3" : "-tls1_2")};
  argv.insert(argv.end(), c.openssl_cipher.begin(), c.openssl_cipher.end());
  Subprocess client(Command(argv));
  ASSERT_TRUE(client.ok()) << client.error();
  const std::string payload = Payload(std::string("boring-keys-s/") + c.name, kSize);
  ASSERT_TRUE(client.Write(payload, 30s));
  ASSERT_TRUE(client.WaitForStdout([](std::string_view out) { return out.size() >= kSize; }, 30s))
      << "s_client stderr:\n"
      << client.Stderr() << "server stderr:\n"
      << server.Stderr();
  EXPECT_EQ(client.Stdout(), payload);
  client.CloseStdin();
  EXPECT_EQ(client.Wait(10s), 0) << client.Stderr();
  EXPECT_EQ(server.Wait(10s), 0) << server.Stderr();
  ASSERT_NO_FATAL_FAILURE(tap.Stop());
  Check(tap_log, oracle, tap.Stderr());
}

// tshark decrypts a loopback capture of tls_boring (client traced) and
// openssl s_server with nothing but tlstap's key log, both directions,
// TLS 1.2 and 1.3 (whose handshake traffic secrets Wireshark needs to
// follow the handshake to the application keys).
class BoringTsharkTest : public BoringKeysTest {};

TEST_P(BoringTsharkTest, TsharkDecryptsWithTheKeyLog) {
  const BoringKeysCase& c = GetParam();
  TempDir dir;
  Certificate cert;
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
  const std::string tap_log = dir / "tap.keys", pcap = dir / "lo.pcapng";
  const int holder_port = FreeTcpPort();
  ASSERT_GT(holder_port, 0);
  Subprocess holder(Boring({"server", std::to_string(holder_port), cert.cert, cert.key, c.tls, "1"},
                           dir / "holder.keys"));
  ASSERT_TRUE(holder.ok()) << holder.error();
  ASSERT_TRUE(WaitForListen(holder_port, 10s)) << holder.Stderr();
  KeysTap tap;
  ASSERT_NO_FATAL_FAILURE(tap.Start(tap_log, {"--comm", "tls_boring"}));
  const int port = FreeTcpPort();
  ASSERT_GT(port, 0);
  std::vector<std::string> argv = {
      kOpenssl,   "s_server", "-accept", HostPort("127.0.0.1", port),
      "-cert",    cert.cert,  "-key",    cert.key,
      "-naccept", "1",        "-quiet",  Tls13() ? "-tls1_3" : "-tls1_2"};
  argv.insert(argv.end(), c.openssl_cipher.begin(), c.openssl_cipher.end());
  Subprocess server(Command(argv));
  ASSERT_TRUE(server.ok()) << server.error();
  ASSERT_TRUE(WaitForListen(port, 10s)) << server.Stderr();
  LoopbackCapture wire;
  ASSERT_NO_FATAL_FAILURE(wire.Start(pcap, port));
  const std::string request = "GET /tlstap-boring-keys HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  const std::string response = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  Subprocess client(Boring({"client", std::to_string(port), c.tls}, dir / "boring.keys"));
  ASSERT_TRUE(client.ok()) << client.error();
  ASSERT_TRUE(client.Write(request, 30s));
  client.CloseStdin();
  ASSERT_TRUE(
      server.WaitForStdout([&](std::string_view out) { return out.size() >= request.size(); }, 30s))
      << server.Stderr() << client.Stderr();
  // tls_boring reads back as many bytes as it sent
  const std::string reply = response + std::string(request.size() - response.size(), 'x');
  ASSERT_TRUE(server.Write(reply, 30s));
  EXPECT_EQ(client.Wait(30s), 0) << client.Stderr();
  EXPECT_EQ(client.Stdout(), reply);
  server.CloseStdin();
  server.Wait(10s);
  ASSERT_NO_FATAL_FAILURE(wire.Stop());
  ASSERT_NO_FATAL_FAILURE(tap.Stop());
  holder.Signal(SIGTERM);
  holder.Wait(10s);

  Subprocess tshark(Command(TsharkTls(
      pcap, port, {"-o", "tls.keylog_file:" + tap_log, "-q", "-z", "follow,tls,ascii,0"})));
  ASSERT_TRUE(tshark.ok()) << tshark.error();
  ASSERT_EQ(tshark.Wait(60s), 0) << tshark.Stderr();
  auto [c2s, s2c] = SplitFollowTls(tshark.Stdout(), port);
  EXPECT_EQ(c2s, request) << "tshark did not decrypt the request with tlstap's key log:\n"
                          << tshark.Stdout() << "\nkey log:\n"
                          << ReadFile(tap_log);
  EXPECT_EQ(s2c, reply) << tshark.Stdout();
}

INSTANTIATE_TEST_SUITE_P(Ciphers, BoringKeysTest, ::testing::ValuesIn(kBoringCases),
                         [](const ::testing::TestParamInfo<BoringKeysCase>& info) {
                           return std::string(info.param.name);
                         });
INSTANTIATE_TEST_SUITE_P(Ciphers, BoringTsharkTest, ::testing::ValuesIn(kBoringCases),
                         [](const ::testing::TestParamInfo<BoringKeysCase>& info) {
                           return std::string(info.param.name);
                         });

// tshark decrypts a loopback capture of gnutls-cli and gnutls-serv with
// nothing but tlstap's key log of the client, TLS 1.2 and 1.3: both
// directions' exact plaintext.
class GnuTlsTsharkTest : public BpfTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(GnuTlsTsharkTest, TsharkDecryptsWithTheKeyLog) {
  TempDir dir;
  Certificate cert;
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
  const std::string tap_log = dir / "tap.keys", pcap = dir / "lo.pcapng";
  KeysTap tap;
  ASSERT_NO_FATAL_FAILURE(tap.Start(tap_log, {"--comm", "gnutls-cli"}));
  const int port = FreeTcpPort();
  ASSERT_GT(port, 0);
  const std::string priority = std::string("NORMAL:-VERS-ALL:+VERS-TLS") + GetParam();
  Subprocess server(
      Command({kGnutlsServ, "--echo", "-q", "-p", std::to_string(port), "--x509certfile", cert.cert,
               "--x509keyfile", cert.key, "--priority", priority}));
  ASSERT_TRUE(server.ok()) << server.error();
  ASSERT_TRUE(WaitForListen(port, 10s)) << server.Stderr();
  LoopbackCapture wire;
  ASSERT_NO_FATAL_FAILURE(wire.Start(pcap, port));
  // Lines end in "\n" alone: gnutls-cli drops the "\r" of a "\r\n" at the end of what it read.
  const std::string request = "GET /tlstap-gnutls-keys HTTP/1.1\nHost: 127.0.0.1\n";
  Subprocess client(Command({kGnutlsCli, "--insecure", "--logfile", dir / "cli.log", "-p",
                             std::to_string(port), "--priority", priority, "127.0.0.1"}));
  ASSERT_TRUE(client.ok()) << client.error();
  ASSERT_TRUE(client.Write(request, 30s));
  ASSERT_TRUE(
      client.WaitForStdout([&](std::string_view out) { return out.size() >= request.size(); }, 30s))
      << "gnutls-cli's stdout: " << client.Stdout() << "\nits stderr:\n"
      << client.Stderr() << "its log:\n"
      << ReadFile(dir / "cli.log") << "server stderr:\n"
      << server.Stderr();
  EXPECT_EQ(client.Stdout(), request);
  client.CloseStdin();
  EXPECT_EQ(client.Wait(10s), 0) << client.Stderr();
  server.Signal(SIGTERM);
  server.Wait(10s);
  ASSERT_NO_FATAL_FAILURE(wire.Stop());
  ASSERT_NO_FATAL_FAILURE(tap.Stop());

  Subprocess tshark(Command(TsharkTls(
      pcap, port, {"-o", "tls.keylog_file:" + tap_log, "-q", "-z", "follow,tls,ascii,0"})));
  ASSERT_TRUE(tshark.ok()) << tshark.error();
  ASSERT_EQ(tshark.Wait(60s), 0) << tshark.Stderr();
  const std::string decrypted = tshark.Stdout();
  // follow,tls,ascii: each block is its length and the bytes, the server's
  // blocks indented by a tab. The request as sent, and as echoed.
  const std::string sent = "\n" + std::to_string(request.size()) + "\n" + request;
  const std::string echoed = "\t" + std::to_string(request.size()) + "\n" + request;
  EXPECT_NE(decrypted.find(sent), std::string::npos)
      << "tshark did not decrypt the request with tlstap's key log:\n"
      << decrypted << "\nkey log:\n"
      << ReadFile(tap_log);
  EXPECT_NE(decrypted.find(echoed), std::string::npos) << "the echo was not decrypted:\n"
                                                       << decrypted;
}

// A library whose secrets cannot be located is named in one line, its keys
// are off, and its plaintext is still captured whole: tlstap copied where
// no tlstap-keyprobe sits next to it, gnutls-cli traced.
class KeysUnlocatedTest : public BpfTest {};

TEST_F(KeysUnlocatedTest, NamedInOneLineDataStillCaptured) {
  TempDir dir;
  Certificate cert;
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
  const std::string lone = dir / "tlstap", tap_log = dir / "tap.keys", events = dir / "ev.jsonl";
  std::filesystem::copy_file(kTlstap, lone);
  SpawnOptions options =
      Command({lone, "--keylog", tap_log, "--comm", "gnutls-cli", "--json", "-w", events});
  options.stdin_pipe = false;
  Subprocess tap(options);
  ASSERT_TRUE(tap.ok()) << tap.error();
  ASSERT_TRUE(tap.WaitForStderr(
      [](std::string_view err) { return err.find("tlstap: capturing from") != err.npos; }, 120s))
      << tap.Stderr();
  const int port = FreeTcpPort();
  ASSERT_GT(port, 0);
  Subprocess server(Command({kGnutlsServ, "--echo", "-q", "-p", std::to_string(port),
                             "--x509certfile", cert.cert, "--x509keyfile", cert.key}));
  ASSERT_TRUE(server.ok()) << server.error();
  ASSERT_TRUE(WaitForListen(port, 10s)) << server.Stderr();
  const std::string payload = AsLines(Payload("gnutls-keys/no-helper", kSize));
  Subprocess client(Command({kGnutlsCli, "--insecure", "--logfile", dir / "cli.log", "-p",
                             std::to_string(port), "127.0.0.1"}));
  ASSERT_TRUE(client.ok()) << client.error();
  ASSERT_TRUE(client.Write(payload, 30s));
  ASSERT_TRUE(
      client.WaitForStdout([&](std::string_view out) { return out.size() >= payload.size(); }, 30s))
      << client.Stderr();
  client.CloseStdin();
  EXPECT_EQ(client.Wait(10s), 0) << client.Stderr();
  server.Signal(SIGTERM);
  server.Wait(10s);
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
  EXPECT_TRUE(KeyLines(tap_log).empty()) << ReadFile(tap_log);
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

INSTANTIATE_TEST_SUITE_P(Versions, GnuTlsTsharkTest, ::testing::Values("1.2", "1.3"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           return std::string(info.param[2] == '2' ? "tls1_2" : "tls1_3");
                         });

}  // namespace
}  // namespace tlstap::bpf_test
