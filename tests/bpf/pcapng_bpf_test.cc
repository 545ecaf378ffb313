// tlstap -w FILE.pcapng (issue 6): the packets of a traced process's TLS
// connections, on loopback, in a pcapng file that tshark decrypts with no
// key file (the secrets travel in Decryption Secrets Blocks). A real reader
// is the oracle: tshark must show the exact HTTP requests and responses
// (OpenSSL: curl and nginx) or the exact payloads (Go: tests/progs/tls_go),
// every packet's comment must name the traced process, and capinfos and
// tshark must read every file without a word on stderr. One side is traced
// (--comm), so each case proves that side's secrets alone: TLS 1.2 and 1.3,
// AES-GCM and ChaCha20, client and server.
//
// GnuTLS: gnutls-cli against the same nginx, its side traced, the same
// checks as curl's (OpensslPcapTest.GnutlsClientSide).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <sstream>

#include "tests/bpf/nginx_server.h"
#include "tests/bpf/proc_inspect.h"
#include "tests/bpf/python_peer.h"
#include "tests/bpf/subprocess.h"
#include "tests/bpf/test_env.h"
#include "tests/bpf/tlstap_session.h"

namespace tlstap::bpf_test {
namespace {

constexpr std::string_view kReady = "tlstap: writing the packets of traced connections";
// tshark says this on stderr whenever root runs it, whatever the file.
constexpr std::string_view kTsharkRootNote =
    "Running as user \"root\" and group \"root\". This could be dangerous.\n";

// `tlstap -w path args...`, started and stopped.
class PcapTap {
 public:
  void Start(const std::string& path, const std::vector<std::string>& args) {
    SpawnOptions options = Command({kTlstap, "-w", path});
    options.stdin_pipe = false;
    options.argv.insert(options.argv.end(), args.begin(), args.end());
    process_ = std::make_unique<Subprocess>(options);
    ASSERT_TRUE(process_->ok()) << process_->error();
    ASSERT_TRUE(process_->WaitForStderr(
        [](std::string_view err) { return err.find(kReady) != std::string_view::npos; }, 120s))
        << process_->command() << " did not start; stderr:\n"
        << process_->Stderr();
  }
  // Stops it; its statistics must count no packet lost or cut.
  void Stop() {
    process_->Signal(SIGINT);
    std::optional<int> status = process_->Wait(60s);
    ASSERT_TRUE(status.has_value()) << "tlstap did not stop";
    ASSERT_EQ(*status, 0) << process_->Stderr();
    EXPECT_NE(process_->Stderr().find("; 0 still held, 0 released early, 0 out of order; lost 0 "
                                      "(ring full), 0 (unreadable), 0 cut to 262144 bytes;"),
              std::string::npos)
        << process_->Stderr();
  }
  std::string Stderr() const { return process_ ? process_->Stderr() : ""; }
  bool WaitForStderr(const std::function<bool(std::string_view)>& pred,
                     std::chrono::milliseconds timeout) {
    return process_ && process_->WaitForStderr(pred, timeout);
  }

 private:
  std::unique_ptr<Subprocess> process_;
};

// Runs a Wireshark tool on a file to its end: exit 0 and nothing on stderr
// (no warning, no "appears to be damaged"), or the test fails.
std::string ReadWith(const std::vector<std::string>& argv) {
  RunResult r = RunToEnd(Command(argv), 120s);
  std::string err = r.err;
  if (err.starts_with(kTsharkRootNote)) err.erase(0, kTsharkRootNote.size());
  EXPECT_EQ(r.status, 0) << argv[0] << " " << argv[1] << " " << argv[2] << ":\n" << r.err;
  EXPECT_EQ(err, "") << argv[0] << " on " << argv[2] << " wrote to stderr";
  return r.out;
}

// capinfos and a plain tshark pass read the file without complaint.
void ExpectReadable(const std::string& path) {
  SCOPED_TRACE(path);
  ReadWith({"/usr/bin/capinfos", path});
  ReadWith({kTshark, "-r", path});
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Every packet's comment, one per packet.
std::vector<std::string> Comments(const std::string& path) {
  return Lines(ReadWith({kTshark, "-r", path, "-T", "fields", "-e", "frame.comment"}));
}

void ExpectPrivate(const std::string& path) {
  struct stat st {};
  ASSERT_EQ(lstat(path.c_str(), &st), 0) << path;
  EXPECT_TRUE(S_ISREG(st.st_mode)) << path;
  EXPECT_EQ(st.st_mode & 07777, 0600u) << path;
}

// The ServerHello's cipher suite, as tshark prints it ("0x1302").
std::string ServerCipher(const std::string& path, int server_port) {
  return ReadWith(TsharkTls(
      path, server_port,
      {"-Y", "tls.handshake.type == 2", "-T", "fields", "-e", "tls.handshake.ciphersuite"}));
}

// The decrypted HTTP messages, one line each: method|uri|code|body.
std::vector<std::string> HttpRows(const std::string& path, int server_port) {
  return Lines(ReadWith(
      TsharkTls(path, server_port,
                {"-Y", "http", "-T", "fields", "-E", "separator=|", "-e", "http.request.method",
                 "-e", "http.request.uri", "-e", "http.response.code", "-e", "http.file_data"})));
}

// The decrypted bytes of TCP stream 0, client to server and back.
std::pair<std::string, std::string> FollowTls(const std::string& path, int server_port) {
  return SplitFollowTls(ReadWith(TsharkTls(path, server_port, {"-q", "-z", "follow,tls,ascii,0"})),
                        server_port);
}

// A plain TCP exchange over loopback by the test itself (no TLS, so no
// traced process ever names it): connect, a few bytes, close.
void UntracedTcpExchange() {
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(listen(listener, 1), 0);
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  int client = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(connect(client, reinterpret_cast<sockaddr*>(&addr), len), 0);
  int server = accept(listener, nullptr, nullptr);
  ASSERT_GE(server, 0);
  ASSERT_EQ(write(client, "untraced", 8), 8);
  char buf[8];
  ASSERT_EQ(read(server, buf, sizeof(buf)), 8);
  close(client);
  close(server);
  close(listener);
}

// "N of connections no traced process used" from tlstap's final line.
uint64_t Unadmitted(const std::string& tap_stderr) {
  const std::string marker = " of connections no traced process used";
  size_t end = tap_stderr.find(marker);
  if (end == std::string::npos) return UINT64_MAX;
  size_t begin = tap_stderr.rfind(' ', end - 1) + 1;
  return std::stoull(tap_stderr.substr(begin, end - begin));
}

struct CipherCase {
  const char* name;
  std::vector<std::string> curl;   // curl's version and cipher options
  std::vector<std::string> nginx;  // nginx's, inside server { }
  const char* suite;               // the ServerHello's cipher suite, as tshark prints it
  const char* go_cipher;           // tls_go --cipher (TLS 1.2), "" for Go's choice
  const char* tls;                 // "1.2" / "1.3"
  const char* gnutls;              // gnutls-cli --priority
};

const CipherCase kCases[] = {
    {"tls1_2_aes_gcm",
     {"--tlsv1.2", "--tls-max", "1.2", "--ciphers", "ECDHE-ECDSA-AES128-GCM-SHA256"},
     {"ssl_protocols TLSv1.2;"},
     "0xc02b",
     "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
     "1.2",
     "NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-GCM"},
    {"tls1_2_chacha20",
     {"--tlsv1.2", "--tls-max", "1.2", "--ciphers", "ECDHE-ECDSA-CHACHA20-POLY1305"},
     {"ssl_protocols TLSv1.2;"},
     "0xcca9",
     "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
     "1.2",
     "NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+CHACHA20-POLY1305"},
    {"tls1_3_aes_gcm",
     {"--tlsv1.3", "--tls13-ciphers", "TLS_AES_256_GCM_SHA384"},
     {"ssl_protocols TLSv1.3;"},
     "0x1302",
     "",
     "1.3",
     "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-256-GCM"},
    {"tls1_3_chacha20",
     {"--tlsv1.3", "--tls13-ciphers", "TLS_CHACHA20_POLY1305_SHA256"},
     {"ssl_protocols TLSv1.3;"},
     "0x1303",
     "",
     "1.3",
     "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+CHACHA20-POLY1305"},
};

// Go 1.19 lets a program choose TLS 1.2 suites only: its TLS 1.3 suite is
// its own choice (AES-128-GCM where the CPU has AES instructions).
const CipherCase kGoCases[] = {kCases[0], kCases[1], {"tls1_3", {}, {}, "0x130", "", "1.3", ""}};

std::string CaseName(const ::testing::TestParamInfo<CipherCase>& info) { return info.param.name; }

// curl (OpenSSL) and nginx (OpenSSL), HTTP/1.1 over one connection with two
// requests; the side traced is chosen by --comm.
class OpensslPcapTest : public BpfTest, public ::testing::WithParamInterface<CipherCase> {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(BpfTest::SetUp());
    ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir_, &cert_));
    ASSERT_EQ(mkdir((dir_ / "www").c_str(), 0755), 0);
    // Bodies of one known text each (tshark prints http.file_data as text).
    body_a_ = Payload("pcapng/a", 3000);
    body_b_ = Payload("pcapng/b", 40000);  // several TLS records, several packets
    ASSERT_NO_FATAL_FAILURE(WriteFile(dir_ / "www/a.txt", body_a_));
    ASSERT_NO_FATAL_FAILURE(WriteFile(dir_ / "www/b.txt", body_b_));
    std::vector<std::string> lines = GetParam().nginx;
    lines.push_back("location / { }");
    ASSERT_NO_FATAL_FAILURE(
        nginx_.Start(dir_, cert_, {.root = dir_ / "www", .lines = lines, .http_lines = {}}));
  }

  // Runs curl for both files over one connection while tlstap -w runs with args.
  void Run(const std::vector<std::string>& tap_args) {
    pcap_ = dir_ / "out.pcapng";
    PcapTap tap;
    ASSERT_NO_FATAL_FAILURE(tap.Start(pcap_, tap_args));
    std::vector<std::string> argv = {kCurl, "-sS",       "--http1.1", "-k",
                                     "-o",  "/dev/null", "-o",        "/dev/null"};
    argv.insert(argv.end(), GetParam().curl.begin(), GetParam().curl.end());
    argv.push_back(nginx_.Url("/a.txt"));
    argv.push_back(nginx_.Url("/b.txt"));
    // Packets no traced process owns: left out (counted), or with --port
    // not even taken.
    ASSERT_NO_FATAL_FAILURE(UntracedTcpExchange());
    Subprocess curl(Command(argv));
    ASSERT_TRUE(curl.ok()) << curl.error();
    curl_pid_ = curl.pid();
    ASSERT_EQ(curl.Wait(30s), 0) << curl.Stderr();
    ASSERT_NO_FATAL_FAILURE(UntracedTcpExchange());
    ASSERT_NO_FATAL_FAILURE(tap.Stop());
    tap_stderr_ = tap.Stderr();
  }

  // The file decrypts to exactly the two exchanges, every packet is owned
  // by owner, and the case's cipher suite is the one negotiated.
  void ExpectDecrypted(const std::string& owner) {
    ASSERT_NO_FATAL_FAILURE(ExpectPrivate(pcap_));
    ExpectReadable(pcap_);
    EXPECT_EQ(ServerCipher(pcap_, nginx_.port()), std::string(GetParam().suite) + "\n");
    const std::vector<std::string> expected = {"GET|/a.txt||", "||200|" + body_a_, "GET|/b.txt||",
                                               "||200|" + body_b_};
    EXPECT_EQ(HttpRows(pcap_, nginx_.port()), expected) << "tlstap stderr:\n" << tap_stderr_;
    std::vector<std::string> comments = Comments(pcap_);
    // SYN, SYN-ACK, ACK, the handshake, both exchanges, the close: each
    // packet once (loopback is taken on egress only).
    EXPECT_GE(comments.size(), 12u);
    EXPECT_EQ(std::set<std::string>(comments.begin(), comments.end()), std::set{owner});
  }

  TempDir dir_;
  Certificate cert_;
  NginxServer nginx_;
  std::string body_a_, body_b_, pcap_, tap_stderr_;
  pid_t curl_pid_ = 0;
};

TEST_P(OpensslPcapTest, ClientSide) {
  ASSERT_NO_FATAL_FAILURE(Run({"--comm", "curl", "-i", "lo"}));
  ExpectDecrypted("pid=" + std::to_string(curl_pid_) + " comm=curl");
  // Two plain exchanges of at least 8 packets each were taken and left out.
  EXPECT_GE(Unadmitted(tap_stderr_), 16u) << tap_stderr_;
}

// --port NGINX_PORT: the kernel takes only that port's packets, so the
// plain exchanges (other ports) never reach user space.
TEST_P(OpensslPcapTest, ClientSideOnePort) {
  const std::string port = std::to_string(nginx_.port());
  ASSERT_NO_FATAL_FAILURE(Run({"--comm", "curl", "-i", "lo", "--port", port}));
  ExpectDecrypted("pid=" + std::to_string(curl_pid_) + " comm=curl");
  EXPECT_EQ(Unadmitted(tap_stderr_), 0u) << tap_stderr_;
}

TEST_P(OpensslPcapTest, ServerSide) {
  ASSERT_NO_FATAL_FAILURE(Run({"--comm", "nginx"}));  // every interface that is up
  ExpectDecrypted("pid=" + std::to_string(nginx_.worker()) + " comm=nginx");
  EXPECT_GE(Unadmitted(tap_stderr_), 16u) << tap_stderr_;
}

// Both ends traced: each packet's comment names its sender, nginx's worker
// for packets from the server's port, curl for the others.
TEST_P(OpensslPcapTest, BothSidesEachPacketItsSender) {
  ASSERT_NO_FATAL_FAILURE(Run({"--comm", "curl", "--comm", "nginx", "-i", "lo"}));
  ExpectReadable(pcap_);
  const std::vector<std::string> expected = {"GET|/a.txt||", "||200|" + body_a_, "GET|/b.txt||",
                                             "||200|" + body_b_};
  EXPECT_EQ(HttpRows(pcap_, nginx_.port()), expected);
  const std::string port = std::to_string(nginx_.port());
  const std::string curl = "pid=" + std::to_string(curl_pid_) + " comm=curl";
  const std::string nginx = "pid=" + std::to_string(nginx_.worker()) + " comm=nginx";
  size_t from_curl = 0, from_nginx = 0;
  for (const std::string& line :
       Lines(ReadWith({kTshark, "-r", pcap_, "-T", "fields", "-E", "separator=|", "-e",
                       "tcp.srcport", "-e", "frame.comment"}))) {
    const bool from_server = line.starts_with(port + "|");
    EXPECT_EQ(line.substr(line.find('|') + 1), from_server ? nginx : curl) << line;
    ++(from_server ? from_nginx : from_curl);
  }
  EXPECT_GE(from_curl, 5u);
  EXPECT_GE(from_nginx, 5u);
}

// GnuTLS's gnutls-cli as the client, traced alone, the same two requests
// over one connection: its secrets (read from its session at the offsets
// tlstap-keyprobe found in that libgnutls) decrypt the file.
TEST_P(OpensslPcapTest, GnutlsClientSide) {
  pcap_ = dir_ / "gnutls.pcapng";
  PcapTap tap;
  ASSERT_NO_FATAL_FAILURE(tap.Start(pcap_, {"--comm", "gnutls-cli", "-i", "lo"}));
  const std::string port = std::to_string(nginx_.port());
  Subprocess cli(Command({"/usr/bin/gnutls-cli", "--insecure", "--logfile", dir_ / "cli.log",
                          "--priority", GetParam().gnutls, "-p", port, "127.0.0.1"}));
  ASSERT_TRUE(cli.ok()) << cli.error();
  for (const auto& [path, body] : {std::pair{"/a.txt", &body_a_}, std::pair{"/b.txt", &body_b_}}) {
    ASSERT_TRUE(
        cli.Write(std::string("GET ") + path + " HTTP/1.1\r\nHost: localhost\r\n\r\n", 30s));
    ASSERT_TRUE(cli.WaitForStdout([&](std::string_view out) { return out.ends_with(*body); }, 30s))
        << "gnutls-cli's response to " << path << ":\n"
        << cli.Stdout().substr(0, 300) << "\nstderr:\n"
        << cli.Stderr();
  }
  cli.CloseStdin();
  ASSERT_TRUE(cli.Wait(30s).has_value());
  ASSERT_NO_FATAL_FAILURE(tap.Stop());
  tap_stderr_ = tap.Stderr();
  ExpectDecrypted("pid=" + std::to_string(cli.pid()) + " comm=gnutls-cli");
}

// GnuTLS's gnutls-serv --echo as the server, traced alone, openssl
// s_client sending lines: tshark's decrypted stream holds exactly what each
// side sent.
TEST_P(OpensslPcapTest, GnutlsServerSide) {
  pcap_ = dir_ / "gnutls-serv.pcapng";
  const int port = FreeTcpPort();
  ASSERT_GT(port, 0);
  PcapTap tap;
  ASSERT_NO_FATAL_FAILURE(tap.Start(pcap_, {"--comm", "gnutls-serv", "-i", "lo"}));
  Subprocess server(
      Command({"/usr/bin/gnutls-serv", "--echo", "-q", "-p", std::to_string(port), "--x509certfile",
               cert_.cert, "--x509keyfile", cert_.key, "--priority", GetParam().gnutls}));
  ASSERT_TRUE(server.ok()) << server.error();
  ASSERT_TRUE(WaitForListen(port, 10s)) << server.Stderr();
  Subprocess client(Command({"/usr/bin/openssl", "s_client", "-quiet", "-no_ign_eof", "-connect",
                             "127.0.0.1:" + std::to_string(port)}));
  ASSERT_TRUE(client.ok()) << client.error();
  std::string lines = Payload("pcapng/gnutls-serv", 5000);
  for (size_t i = 63; i < lines.size(); i += 64) lines[i] = '\n';
  lines.back() = '\n';
  ASSERT_TRUE(client.Write(lines, 30s));
  ASSERT_TRUE(
      client.WaitForStdout([&](std::string_view out) { return out.size() >= lines.size(); }, 30s))
      << "s_client got " << client.Stdout().size() << " of " << lines.size()
      << " bytes back; stderr:\n"
      << client.Stderr();
  client.CloseStdin();
  ASSERT_TRUE(client.Wait(30s).has_value());
  ASSERT_NO_FATAL_FAILURE(tap.Stop());

  ASSERT_NO_FATAL_FAILURE(ExpectPrivate(pcap_));
  ExpectReadable(pcap_);
  EXPECT_EQ(ServerCipher(pcap_, port), std::string(GetParam().suite) + "\n");
  auto [c2s, s2c] = FollowTls(pcap_, port);
  EXPECT_EQ(c2s, lines) << "tlstap stderr:\n" << tap.Stderr();
  EXPECT_EQ(s2c, lines);
  std::vector<std::string> comments = Comments(pcap_);
  EXPECT_GE(comments.size(), 10u);
  EXPECT_EQ(std::set<std::string>(comments.begin(), comments.end()),
            std::set<std::string>{"pid=" + std::to_string(server.pid()) + " comm=gnutls-serv"});
}

INSTANTIATE_TEST_SUITE_P(Ciphers, OpensslPcapTest, ::testing::ValuesIn(kCases), CaseName);

// A TLS 1.3 key update in the middle of a connection: gnutls-serv --echo
// traced alone, an interactive openssl s_client whose "K" line sends a
// KeyUpdate and asks for one back. tlstap writes the session's secrets once
// (traffic secrets 0); tshark derives the next ones from the KeyUpdate
// messages in the file, so the lines after the update decrypt too.
class KeyUpdatePcapTest : public BpfTest {};

TEST_F(KeyUpdatePcapTest, MidConnectionStillDecrypts) {
  TempDir dir;
  Certificate cert;
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
  const std::string pcap = dir / "keyupdate.pcapng";
  const int port = FreeTcpPort();
  ASSERT_GT(port, 0);
  PcapTap tap;
  ASSERT_NO_FATAL_FAILURE(tap.Start(pcap, {"--comm", "gnutls-serv", "-i", "lo"}));
  Subprocess server(Command({"/usr/bin/gnutls-serv", "--echo", "-q", "-p", std::to_string(port),
                             "--x509certfile", cert.cert, "--x509keyfile", cert.key, "--priority",
                             "NORMAL:-VERS-ALL:+VERS-TLS1.3"}));
  ASSERT_TRUE(server.ok()) << server.error();
  ASSERT_TRUE(WaitForListen(port, 10s)) << server.Stderr();
  // Interactive (no -quiet, no -ign_eof): a line "K" is a command.
  Subprocess client(
      Command({kOpenssl, "s_client", "-connect", "127.0.0.1:" + std::to_string(port)}));
  ASSERT_TRUE(client.ok()) << client.error();
  for (const std::string line :
       {"tlstap-line-before-the-update\n", "K\n", "tlstap-line-after-the-update\n"}) {
    ASSERT_TRUE(client.Write(line, 30s));
    if (line == "K\n") {
      ASSERT_TRUE(client.WaitForStderr(
          [](std::string_view err) { return err.find("KEYUPDATE") != std::string_view::npos; },
          30s))
          << client.Stderr();
      continue;
    }
    ASSERT_TRUE(client.WaitForStdout(
        [&](std::string_view out) { return out.find(line) != std::string_view::npos; }, 30s))
        << "s_client stdout:\n"
        << client.Stdout() << "\nstderr:\n"
        << client.Stderr();
  }
  client.CloseStdin();
  ASSERT_TRUE(client.Wait(30s).has_value());
  ASSERT_NO_FATAL_FAILURE(tap.Stop());

  ExpectReadable(pcap);
  const std::string sent = "tlstap-line-before-the-update\ntlstap-line-after-the-update\n";
  auto [c2s, s2c] = FollowTls(pcap, port);
  EXPECT_EQ(c2s, sent) << "tlstap stderr:\n" << tap.Stderr();
  EXPECT_EQ(s2c, sent);
  // Both ends' KeyUpdate messages are in the file, decrypted.
  EXPECT_EQ(ReadWith(TsharkTls(
                pcap, port,
                {"-Y", "tls.handshake.type == 24", "-T", "fields", "-e", "tls.handshake.type"})),
            "24\n24\n");
}

// Go's crypto/tls (tests/progs/tls_go), one side traced. Server side: a
// tls_go_pie server, traced by its command name, started after tlstap
// (which attaches to it at its exec), and a tls_go client. Client side: a
// tls_go server first (so tlstap finds the tls_go file and probes it for
// every process), then a tls_go client held before its exec, traced by its
// pid. tshark's decrypted stream holds exactly what each side sent.
class GoPcapTest : public BpfTest, public ::testing::WithParamInterface<CipherCase> {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(BpfTest::SetUp());
    for (const char* build : {"tls_go", "tls_go_pie"}) {
      ASSERT_TRUE(std::filesystem::exists(GoPeer(build)))
          << GoPeer(build) << " was not built: golang-go is missing (scripts/install-deps.sh)";
    }
  }
  static std::string GoPeer(const char* build) { return std::string(kGoPeerDir) + "/" + build; }

  void Run(bool server_side) {
    TempDir dir;
    Certificate cert;
    ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
    const std::string pcap = dir / "go.pcapng";
    const CipherCase& c = GetParam();
    PeerOptions server = ServerOptions("exchange", cert);
    server.program = {GoPeer(server_side ? "tls_go_pie" : "tls_go")};
    server.tls = c.tls;
    server.sizes = {100, 20000};
    server.tag = std::string("gopcap/") + c.name;
    if (*c.go_cipher) server.extra = {"--cipher", c.go_cipher};
    PeerOptions client = ClientOptions("exchange", server);
    client.program = {GoPeer("tls_go")};
    client.extra.clear();

    PcapTap tap;
    std::unique_ptr<Subprocess> s, cl;
    pid_t owner = 0;
    if (server_side) {
      ASSERT_NO_FATAL_FAILURE(tap.Start(pcap, {"--comm", "tls_go_pie", "-i", "lo"}));
      s = StartPeer(server);
      ASSERT_TRUE(s->ok()) << s->error();
      ASSERT_NO_FATAL_FAILURE(WaitForListening(*s, &client.port));
      const std::string said = "pid " + std::to_string(s->pid()) + " (";
      ASSERT_TRUE(tap.WaitForStderr(
          [&](std::string_view err) { return err.find(said) != std::string_view::npos; }, 30s))
          << "tlstap did not attach to the server:\n"
          << tap.Stderr();
      cl = StartPeer(client);
      ASSERT_TRUE(cl->ok()) << cl->error();
      owner = s->pid();
    } else {
      s = StartPeer(server);
      ASSERT_TRUE(s->ok()) << s->error();
      ASSERT_NO_FATAL_FAILURE(WaitForListening(*s, &client.port));
      client.prefix = {"/bin/sh", "-c", "read -r line && exec \"$@\"", "sh"};
      cl = StartPeer(client);
      ASSERT_TRUE(cl->ok()) << cl->error();
      ASSERT_NO_FATAL_FAILURE(tap.Start(pcap, {"--pid", std::to_string(cl->pid()), "-i", "lo"}));
      ASSERT_TRUE(cl->Write("go\n", 5s));
      owner = cl->pid();
    }
    ASSERT_EQ(cl->Wait(60s), 0) << cl->Stderr();
    ASSERT_EQ(s->Wait(10s), 0) << s->Stderr();
    ASSERT_NO_FATAL_FAILURE(tap.Stop());

    ASSERT_NO_FATAL_FAILURE(ExpectPrivate(pcap));
    ExpectReadable(pcap);
    // A full suite, or (TLS 1.3, Go's choice) its prefix.
    EXPECT_TRUE(ServerCipher(pcap, client.port).starts_with(c.suite))
        << ServerCipher(pcap, client.port);
    auto [c2s, s2c] = FollowTls(pcap, client.port);
    EXPECT_EQ(c2s, PeerStream(server, "c2s")) << "tlstap stderr:\n" << tap.Stderr();
    EXPECT_EQ(s2c, PeerStream(server, "s2c"));
    std::vector<std::string> comments = Comments(pcap);
    EXPECT_GE(comments.size(), 10u);
    const std::string comm = server_side ? "tls_go_pie" : "tls_go";
    EXPECT_EQ(std::set<std::string>(comments.begin(), comments.end()),
              std::set<std::string>{"pid=" + std::to_string(owner) + " comm=" + comm});
  }
};

TEST_P(GoPcapTest, ServerSide) { Run(/*server_side=*/true); }
TEST_P(GoPcapTest, ClientSide) { Run(/*server_side=*/false); }

INSTANTIATE_TEST_SUITE_P(Ciphers, GoPcapTest, ::testing::ValuesIn(kGoCases), CaseName);

// BoringSSL (tests/progs/tls_boring on Debian's android libssl.so.0) as the
// client, traced alone, against openssl s_server: TLS 1.2, and TLS 1.3,
// whose handshake traffic secrets tlstap reads during SSL_do_handshake
// (BoringSSL frees them before it returns). tshark's decrypted stream is
// exactly what each side sent.
class BoringPcapTest : public BpfTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(BoringPcapTest, ClientSide) {
  const std::string tls = GetParam();
  TempDir dir;
  Certificate cert;
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
  const std::string pcap = dir / "boring.pcapng";
  // A tls_boring that maps the library before tlstap starts: the client's
  // first call finds the probes in place.
  const int holder_port = FreeTcpPort();
  ASSERT_GT(holder_port, 0);
  Subprocess holder(Command(
      {TLSTAP_BORING_PEER, "server", std::to_string(holder_port), cert.cert, cert.key, tls, "1"}));
  ASSERT_TRUE(holder.ok()) << holder.error();
  ASSERT_TRUE(WaitForListen(holder_port, 10s)) << holder.Stderr();
  PcapTap tap;
  ASSERT_NO_FATAL_FAILURE(tap.Start(pcap, {"--comm", "tls_boring", "-i", "lo"}));
  const int port = FreeTcpPort();
  ASSERT_GT(port, 0);
  Subprocess server(
      Command({kOpenssl, "s_server", "-accept", HostPort("127.0.0.1", port), "-cert", cert.cert,
               "-key", cert.key, "-naccept", "1", "-quiet", tls == "1.3" ? "-tls1_3" : "-tls1_2"}));
  ASSERT_TRUE(server.ok()) << server.error();
  ASSERT_TRUE(WaitForListen(port, 10s)) << server.Stderr();
  const std::string request = "GET /tlstap-boring-pcapng HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  Subprocess client(Command({TLSTAP_BORING_PEER, "client", std::to_string(port), tls}));
  ASSERT_TRUE(client.ok()) << client.error();
  ASSERT_TRUE(client.Write(request, 30s));
  client.CloseStdin();
  ASSERT_TRUE(
      server.WaitForStdout([&](std::string_view out) { return out.size() >= request.size(); }, 30s))
      << server.Stderr() << client.Stderr();
  // tls_boring reads back as many bytes as it sent
  const std::string response = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  const std::string reply = response + std::string(request.size() - response.size(), 'x');
  ASSERT_TRUE(server.Write(reply, 30s));
  EXPECT_EQ(client.Wait(30s), 0) << client.Stderr();
  EXPECT_EQ(client.Stdout(), reply);
  server.CloseStdin();
  server.Wait(10s);
  ASSERT_NO_FATAL_FAILURE(tap.Stop());
  holder.Signal(SIGTERM);
  holder.Wait(10s);

  ASSERT_NO_FATAL_FAILURE(ExpectPrivate(pcap));
  ExpectReadable(pcap);
  auto [c2s, s2c] = FollowTls(pcap, port);
  EXPECT_EQ(c2s, request) << "tlstap stderr:\n" << tap.Stderr();
  EXPECT_EQ(s2c, reply);
  std::vector<std::string> comments = Comments(pcap);
  EXPECT_GE(comments.size(), 10u);
  EXPECT_EQ(std::set<std::string>(comments.begin(), comments.end()),
            std::set<std::string>{"pid=" + std::to_string(client.pid()) + " comm=tls_boring"});
}

INSTANTIATE_TEST_SUITE_P(Versions, BoringPcapTest, ::testing::Values("1.2", "1.3"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           return std::string(info.param) == "1.3" ? "tls1_3" : "tls1_2";
                         });

// The file's own rules: a symbolic link at the path is refused before
// anything is attached, an unknown interface is named, and -C rotates into
// files that each read and decrypt alone.
class PcapFilesTest : public BpfTest {};

TEST_F(PcapFilesTest, SymbolicLinkIsRefused) {
  TempDir dir;
  const std::string target = dir / "target", link = dir / "out.pcapng";
  ASSERT_NO_FATAL_FAILURE(WriteFile(target, "keep"));
  ASSERT_EQ(symlink(target.c_str(), link.c_str()), 0);
  RunResult r = RunToEnd(Command({kTlstap, "-w", link, "--comm", "curl"}), 60s);
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_EQ(r.err,
            "tlstap: cannot write " + link + ": it is a symbolic link; refusing to follow it\n");
  EXPECT_EQ(ReadFile(target), "keep");
}

TEST_F(PcapFilesTest, UnknownInterfaceIsNamed) {
  TempDir dir;
  const std::string pcap = dir / "out.pcapng";
  RunResult r = RunToEnd(Command({kTlstap, "-w", pcap, "-i", "lo", "-i", "nosuch0"}), 60s);
  EXPECT_EQ(r.status, 8) << r.err;
  EXPECT_EQ(r.err, "tlstap: -i nosuch0: no such network interface (ip link lists them)\n");
  EXPECT_FALSE(std::filesystem::exists(pcap));
}

TEST_F(PcapFilesTest, RotationGivesFilesThatEachDecrypt) {
  TempDir dir;
  Certificate cert;
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
  ASSERT_EQ(mkdir((dir / "www").c_str(), 0755), 0);
  const std::string body = Payload("pcapng/rotate", 300000);
  ASSERT_NO_FATAL_FAILURE(WriteFile(dir / "www/big.txt", body));
  NginxServer nginx;
  ASSERT_NO_FATAL_FAILURE(
      nginx.Start(dir, cert, {.root = dir / "www", .lines = {"location / { }"}, .http_lines = {}}));
  const std::string pcap = dir / "out.pcapng";
  PcapTap tap;
  ASSERT_NO_FATAL_FAILURE(tap.Start(pcap, {"--comm", "curl", "-i", "lo", "-C", "1"}));
  constexpr int kRequests = 8;
  std::set<std::string> owners;
  for (int i = 0; i < kRequests; ++i) {
    Subprocess curl(Command({kCurl, "-sS", "--http1.1", "-k", "-o", "/dev/null",
                             nginx.Url("/big.txt?n=" + std::to_string(i))}));
    ASSERT_TRUE(curl.ok()) << curl.error();
    owners.insert("pid=" + std::to_string(curl.pid()) + " comm=curl");
    ASSERT_EQ(curl.Wait(30s), 0) << curl.Stderr();
  }
  ASSERT_NO_FATAL_FAILURE(tap.Stop());

  // 8 x 300 kB in files of 1 MiB: three files at least.
  std::vector<std::string> files;
  for (unsigned i = 0;; ++i) {
    std::string name = i == 0 ? pcap : pcap + "." + std::to_string(i);
    if (!std::filesystem::exists(name)) break;
    files.push_back(name);
  }
  ASSERT_GE(files.size(), 3u) << tap.Stderr();
  std::set<std::string> requests;
  for (const std::string& f : files) {
    SCOPED_TRACE(f);
    ASSERT_NO_FATAL_FAILURE(ExpectPrivate(f));
    EXPECT_LE(std::filesystem::file_size(f), (1u << 20) + 4096);
    ExpectReadable(f);
    // Each file starts with every secret so far: the connections whose
    // handshake it holds decrypt in it, at least one whole response each.
    std::vector<std::string> rows = HttpRows(f, nginx.port());
    size_t responses = 0;
    for (const std::string& row : rows) {
      if (row.starts_with("GET|")) requests.insert(row);
      if (row == "||200|" + body) ++responses;
    }
    EXPECT_GE(responses, 1u);
    for (const std::string& comment : Comments(f)) EXPECT_TRUE(owners.contains(comment)) << comment;
  }
  std::set<std::string> expected;
  for (int i = 0; i < kRequests; ++i) expected.insert("GET|/big.txt?n=" + std::to_string(i) + "||");
  EXPECT_EQ(requests, expected);
}

// A file system that fills up: tlstap says so in one line, stops by
// itself and exits 1.
TEST_F(PcapFilesTest, FullDiskStopsWithOneLine) {
  TempDir dir;
  Certificate cert;
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
  ASSERT_EQ(mkdir((dir / "www").c_str(), 0755), 0);
  ASSERT_NO_FATAL_FAILURE(WriteFile(dir / "www/big.txt", Payload("pcapng/full", 400000)));
  NginxServer nginx;
  ASSERT_NO_FATAL_FAILURE(
      nginx.Start(dir, cert, {.root = dir / "www", .lines = {"location / { }"}, .http_lines = {}}));
  const std::string small = dir / "small";
  SmallTmpfs tmpfs;  // unmounted however the test ends (tlstap is gone by then)
  ASSERT_NO_FATAL_FAILURE(tmpfs.Mount(small, "128k"));
  const std::string pcap = small + "/out.pcapng";
  {
    SpawnOptions options =
        Command({kTlstap, "-w", pcap, "--comm", "curl", "-i", "lo", "--reorder-delay", "100"});
    options.stdin_pipe = false;
    Subprocess tap(options);
    ASSERT_TRUE(tap.WaitForStderr(
        [](std::string_view err) { return err.find(kReady) != std::string_view::npos; }, 120s))
        << tap.Stderr();
    RunResult curl = RunToEnd(
        Command({kCurl, "-sS", "--http1.1", "-k", "-o", "/dev/null", nginx.Url("/big.txt")}), 30s);
    EXPECT_EQ(curl.status, 0) << curl.err;
    std::optional<int> status = tap.Wait(30s);
    EXPECT_EQ(status, 1) << "tlstap did not stop by itself:\n" << tap.Stderr();
    EXPECT_NE(
        tap.Stderr().find("tlstap: cannot write " + pcap + ": No space left on device; stopping\n"),
        std::string::npos)
        << tap.Stderr();
  }
}

// Kernels before 6.6 (no tcx) get cls_bpf filters on clsact, forced here
// with --tc-clsact: packets are taken the same way (the file decrypts),
// and at exit tlstap removes its filters, and the qdisc only if it
// created it.
class ClsactTest : public BpfTest {
 protected:
  static std::string Tc(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"/usr/sbin/tc"};
    argv.insert(argv.end(), args.begin(), args.end());
    RunResult r = RunToEnd(Command(argv), 10s);
    EXPECT_EQ(r.status, 0) << r.err;
    return r.out;
  }
  static bool LoHasClsact() {
    return Tc({"qdisc", "show", "dev", "lo"}).find("clsact") != std::string::npos;
  }

  // tlstap --tc-clsact -i lo while curl fetches one file from nginx; the
  // egress filter is there while it runs; the file decrypts.
  void CaptureOnce() {
    TempDir dir;
    Certificate cert;
    ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
    ASSERT_EQ(mkdir((dir / "www").c_str(), 0755), 0);
    const std::string body = Payload("pcapng/clsact", 5000);
    ASSERT_NO_FATAL_FAILURE(WriteFile(dir / "www/c.txt", body));
    NginxServer nginx;
    ASSERT_NO_FATAL_FAILURE(nginx.Start(
        dir, cert, {.root = dir / "www", .lines = {"location / { }"}, .http_lines = {}}));
    const std::string pcap = dir / "out.pcapng";
    PcapTap tap;
    ASSERT_NO_FATAL_FAILURE(tap.Start(pcap, {"--comm", "curl", "-i", "lo", "--tc-clsact"}));
    EXPECT_NE(Tc({"filter", "show", "dev", "lo", "egress"}).find("tc_egress"), std::string::npos);
    EXPECT_EQ(Tc({"filter", "show", "dev", "lo", "ingress"}), "");  // loopback: egress only
    RunResult curl = RunToEnd(
        Command({kCurl, "-sS", "--http1.1", "-k", "-o", "/dev/null", nginx.Url("/c.txt")}), 30s);
    ASSERT_EQ(curl.status, 0) << curl.err;
    ASSERT_NO_FATAL_FAILURE(tap.Stop());
    ExpectReadable(pcap);
    EXPECT_EQ(HttpRows(pcap, nginx.port()),
              (std::vector<std::string>{"GET|/c.txt||", "||200|" + body}));
    EXPECT_EQ(Tc({"filter", "show", "dev", "lo", "egress"}), "") << "tlstap left its filter";
  }
};

TEST_F(ClsactTest, QdiscItCreatedIsRemoved) {
  ASSERT_FALSE(LoHasClsact()) << "lo already has a clsact qdisc: " << Tc({"qdisc", "show"});
  ASSERT_NO_FATAL_FAILURE(CaptureOnce());
  EXPECT_FALSE(LoHasClsact()) << Tc({"qdisc", "show", "dev", "lo"});
}

TEST_F(ClsactTest, QdiscOfAnotherIsKept) {
  ASSERT_FALSE(LoHasClsact()) << "lo already has a clsact qdisc: " << Tc({"qdisc", "show"});
  Tc({"qdisc", "add", "dev", "lo", "clsact"});
  ASSERT_TRUE(LoHasClsact());
  CaptureOnce();
  EXPECT_TRUE(LoHasClsact()) << "tlstap removed a clsact qdisc it did not create";
  Tc({"qdisc", "del", "dev", "lo", "clsact"});
}

}  // namespace
}  // namespace tlstap::bpf_test
