// Proof by a real reader: a TLS session made here with OpenSSL (memory
// BIOs, both ends in this process), its bytes wrapped in synthetic
// Ethernet/IPv4/TCP frames, written through the reorder buffer and the
// pcapng writer with the session's secrets in Decryption Secrets Blocks.
// tshark, given no key file, must show the decrypted HTTP request and
// response; capinfos must read the file without a warning.
//
// tshark and capinfos come from Debian's tshark package
// (scripts/install-deps.sh). Without them these tests fail and say so.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <set>
#include <sstream>

#include "keys/key_log.h"
#include "keys/key_log_set.h"
#include "pcapng/reorder.h"
#include "pcapng/writer.h"
#include "tests/bpf/subprocess.h"

namespace tlstap::pcapng {
namespace {

using namespace std::chrono_literals;

constexpr char kResponse[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nhello\n";

// ---- Synthetic TCP over IPv4 over Ethernet -------------------------------

void Put16(std::string* out, uint16_t v) {
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v));
}

void Put32(std::string* out, uint32_t v) {
  Put16(out, static_cast<uint16_t>(v >> 16));
  Put16(out, static_cast<uint16_t>(v));
}

// The Internet checksum (RFC 1071) of bytes, continuing from sum.
uint16_t InternetChecksum(std::string_view bytes, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < bytes.size(); i += 2) {
    sum += static_cast<uint8_t>(bytes[i]) << 8 | static_cast<uint8_t>(bytes[i + 1]);
  }
  if (bytes.size() % 2) sum += static_cast<uint8_t>(bytes.back()) << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

enum TcpFlags : uint8_t { kFin = 0x01, kSyn = 0x02, kPsh = 0x08, kAck = 0x10 };

// One TCP connection's frames, with sequence and acknowledgement numbers
// that follow the bytes sent, and valid IPv4 and TCP checksums.
class TcpConversation {
 public:
  struct Endpoint {
    uint32_t ip;  // host order
    uint16_t port;
    uint32_t next_seq;
  };

  TcpConversation(Endpoint client, Endpoint server) : client_(client), server_(server) {}

  std::vector<std::string> open() {
    std::vector<std::string> frames;
    frames.push_back(segment(true, kSyn, ""));
    ++client_.next_seq;
    frames.push_back(segment(false, kSyn | kAck, ""));
    ++server_.next_seq;
    frames.push_back(segment(true, kAck, ""));
    return frames;
  }

  // bytes as segments of at most one Ethernet MSS, each acknowledging all
  // the peer has sent.
  std::vector<std::string> send(bool from_client, std::string_view bytes) {
    constexpr size_t kMss = 1460;
    std::vector<std::string> frames;
    for (size_t at = 0; at < bytes.size(); at += kMss) {
      std::string_view piece = bytes.substr(at, kMss);
      frames.push_back(segment(from_client, kPsh | kAck, piece));
      (from_client ? client_ : server_).next_seq += static_cast<uint32_t>(piece.size());
    }
    return frames;
  }

  std::vector<std::string> close() {
    std::vector<std::string> frames;
    frames.push_back(segment(true, kFin | kAck, ""));
    ++client_.next_seq;
    frames.push_back(segment(false, kFin | kAck, ""));
    ++server_.next_seq;
    frames.push_back(segment(true, kAck, ""));
    return frames;
  }

 private:
  std::string segment(bool from_client, uint8_t flags, std::string_view payload) {
    const Endpoint& src = from_client ? client_ : server_;
    const Endpoint& dst = from_client ? server_ : client_;
    std::string tcp;
    Put16(&tcp, src.port);
    Put16(&tcp, dst.port);
    Put32(&tcp, src.next_seq);
    Put32(&tcp, flags & kAck ? dst.next_seq : 0);
    tcp.push_back(5 << 4);  // data offset: 5 words, no options
    tcp.push_back(static_cast<char>(flags));
    Put16(&tcp, 65535);  // window
    Put16(&tcp, 0);      // checksum, filled below
    Put16(&tcp, 0);      // urgent pointer
    tcp.append(payload);
    std::string pseudo;  // the IPv4 pseudo-header the TCP checksum covers
    Put32(&pseudo, src.ip);
    Put32(&pseudo, dst.ip);
    Put16(&pseudo, 6);  // protocol TCP
    Put16(&pseudo, static_cast<uint16_t>(tcp.size()));
    uint16_t tcp_sum = InternetChecksum(pseudo + tcp);
    tcp[16] = static_cast<char>(tcp_sum >> 8);
    tcp[17] = static_cast<char>(tcp_sum);

    std::string ip;
    ip.push_back(0x45);  // IPv4, header of 5 words
    ip.push_back(0);     // DSCP/ECN
    Put16(&ip, static_cast<uint16_t>(20 + tcp.size()));
    Put16(&ip, ip_id_++);
    Put16(&ip, 0x4000);  // don't fragment
    ip.push_back(64);    // TTL
    ip.push_back(6);     // TCP
    Put16(&ip, 0);       // header checksum, filled below
    Put32(&ip, src.ip);
    Put32(&ip, dst.ip);
    uint16_t ip_sum = InternetChecksum(ip);
    ip[10] = static_cast<char>(ip_sum >> 8);
    ip[11] = static_cast<char>(ip_sum);

    // Locally administered MACs, one per side.
    std::string frame(from_client ? "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01"
                                  : "\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02",
                      12);  // destination, then source
    Put16(&frame, 0x0800);  // IPv4
    return frame + ip + tcp;
  }

  Endpoint client_, server_;
  uint16_t ip_id_ = 1;
};

// ---- A TLS session in memory ---------------------------------------------

struct TlsParams {
  const char* name;
  int version;         // TLS1_2_VERSION or TLS1_3_VERSION
  const char* cipher;  // OpenSSL's name, as SSL_CIPHER_get_name reports it
};

// Test names and failure messages show the case's name, not its bytes.
void PrintTo(const TlsParams& params, std::ostream* out) { *out << params.name; }

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, Deleter<SSL_CTX, SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, Deleter<SSL, SSL_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;

std::string OpenSslErrors() {
  std::string out;
  for (unsigned long e; (e = ERR_get_error()) != 0;) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out += std::string(buf) + "; ";
  }
  return out;
}

// A self-signed P-256 certificate for the server, made once.
struct Identity {
  PkeyPtr key;
  X509Ptr cert;
};

const Identity& ServerIdentity() {
  static const Identity identity = [] {
    Identity id{PkeyPtr(EVP_EC_gen("P-256")), X509Ptr(X509_new())};
    X509* cert = id.cert.get();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 24 * 3600);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("tlstap.test"), -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509_set_pubkey(cert, id.key.get());
    X509_sign(cert, id.key.get(), EVP_sha256());
    return id;
  }();
  return identity;
}

// What the capture would have seen, in the order it would have seen it:
// frames, and secrets at the moment the library logged them.
struct CaptureEvent {
  uint64_t ts_ns;
  std::optional<Packet> packet;
  std::vector<keys::KeyLogLine> secrets;
};

// Both ends of one TLS connection over memory BIOs; every flight of
// ciphertext becomes TCP frames on a simulated clock that moves 1 ms a frame.
class TlsSession {
 public:
  TlsSession(const TlsParams& params, uint16_t client_port, uint64_t start_ns,
             const std::string& uri = "/hello")
      : conversation_({0xc0000201, client_port, 1000}, {0xc0000202, 443, 5000}),
        request_("GET " + uri + " HTTP/1.1\r\nHost: tlstap.test\r\n\r\n"),
        clock_ns_(start_ns) {
    client_ctx_.reset(SSL_CTX_new(TLS_client_method()));
    server_ctx_.reset(SSL_CTX_new(TLS_server_method()));
    for (SSL_CTX* ctx : {client_ctx_.get(), server_ctx_.get()}) {
      SSL_CTX_set_min_proto_version(ctx, params.version);
      SSL_CTX_set_max_proto_version(ctx, params.version);
      if (params.version == TLS1_3_VERSION) {
        SSL_CTX_set_ciphersuites(ctx, params.cipher);
      } else {
        SSL_CTX_set_cipher_list(ctx, params.cipher);
      }
      SSL_CTX_set_keylog_callback(ctx, [](const SSL* ssl, const char* line) {
        static_cast<TlsSession*>(SSL_get_app_data(ssl))->on_key_log_line(line);
      });
    }
    SSL_CTX_use_certificate(server_ctx_.get(), ServerIdentity().cert.get());
    SSL_CTX_use_PrivateKey(server_ctx_.get(), ServerIdentity().key.get());
    client_.reset(SSL_new(client_ctx_.get()));
    server_.reset(SSL_new(server_ctx_.get()));
    for (SSL* ssl : {client_.get(), server_.get()}) {
      SSL_set_app_data(ssl, this);
      SSL_set_bio(ssl, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
    }
    SSL_set_connect_state(client_.get());
    SSL_set_accept_state(server_.get());
  }

  // Handshake, one request and its response, close_notify both ways, FIN.
  // Returns false with a message when OpenSSL failed.
  bool run(std::string* error) {
    add_frames(conversation_.open());
    for (int round = 0;
         !(SSL_is_init_finished(client_.get()) && SSL_is_init_finished(server_.get())); ++round) {
      if (round > 10) return fail(error, "handshake did not finish");
      SSL_do_handshake(client_.get());
      carry(/*from_client=*/true);
      SSL_do_handshake(server_.get());
      carry(/*from_client=*/false);
    }
    negotiated_cipher_ = SSL_CIPHER_get_name(SSL_get_current_cipher(client_.get()));
    if (SSL_write(client_.get(), request_.data(), static_cast<int>(request_.size())) <= 0) {
      return fail(error, "client SSL_write");
    }
    carry(true);
    if (read_all(server_.get(), request_.size()) != request_) {
      return fail(error, "server did not read the request");
    }
    carry(false);  // TLS 1.3: the server's session tickets
    if (SSL_write(server_.get(), kResponse, sizeof kResponse - 1) <= 0) {
      return fail(error, "server SSL_write");
    }
    carry(false);
    if (read_all(client_.get(), sizeof kResponse - 1) != kResponse) {
      return fail(error, "client did not read the response");
    }
    SSL_shutdown(client_.get());
    carry(true);
    SSL_shutdown(server_.get());
    carry(false);
    add_frames(conversation_.close());
    return true;
  }

  const std::vector<CaptureEvent>& events() const { return events_; }
  const std::string& negotiated_cipher() const { return negotiated_cipher_; }
  // Lines logged by either end, as the library gave them.
  const std::vector<std::string>& raw_key_log() const { return raw_key_log_; }

 private:
  bool fail(std::string* error, const std::string& what) {
    *error = what + ": " + OpenSslErrors();
    return false;
  }

  void on_key_log_line(const char* text) {
    raw_key_log_.push_back(text);
    Result<keys::KeyLogLine> line = keys::parse_key_log_line(text);
    EXPECT_TRUE(line) << line.error().message;
    if (line) events_.push_back({clock_ns_, std::nullopt, {*line}});
  }

  // Moves what one end wrote to the other end, and onto the wire.
  void carry(bool from_client) {
    SSL* src = from_client ? client_.get() : server_.get();
    SSL* dst = from_client ? server_.get() : client_.get();
    BIO* out = SSL_get_wbio(src);
    std::string bytes;
    char buf[4096];
    for (int n; (n = BIO_read(out, buf, sizeof buf)) > 0;) bytes.append(buf, n);
    if (bytes.empty()) return;
    BIO_write(SSL_get_rbio(dst), bytes.data(), static_cast<int>(bytes.size()));
    add_frames(conversation_.send(from_client, bytes));
  }

  std::string read_all(SSL* ssl, size_t want) {
    std::string got(want, '\0');
    size_t have = 0;
    while (have < want) {
      int n = SSL_read(ssl, got.data() + have, static_cast<int>(want - have));
      if (n <= 0) break;
      have += n;
    }
    got.resize(have);
    return got;
  }

  void add_frames(const std::vector<std::string>& frames) {
    for (const std::string& frame : frames) {
      clock_ns_ += 1'000'000;
      Packet packet;
      packet.ts_ns = clock_ns_;
      packet.original_len = static_cast<uint32_t>(frame.size());
      packet.data = frame;
      packet.owner = PacketOwner{.pid = 4242, .comm = "curl"};
      events_.push_back({clock_ns_, std::move(packet), {}});
    }
  }

  TcpConversation conversation_;
  std::string request_;
  uint64_t clock_ns_;
  SslCtxPtr client_ctx_, server_ctx_;
  SslPtr client_, server_;
  std::vector<CaptureEvent> events_;
  std::vector<std::string> raw_key_log_;
  std::string negotiated_cipher_;
};

// ---- Running tshark and capinfos -----------------------------------------

class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "tlstap-tshark-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

std::string FindProgram(const std::string& name) {
  const char* path = getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    std::string candidate = dir + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// stderr without the one notice Wireshark's tools print when run as root;
// anything left is a warning about the file.
std::string Warnings(const std::string& err) {
  std::istringstream lines(err);
  std::string out;
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("Running as user \"root\"")) continue;
    out += line + "\n";
  }
  return out;
}

struct ReaderRun {
  bool ran = false;  // false: the program is missing (already reported as a failure)
  std::string out, warnings;
};

// Runs a Wireshark tool on a file with a home of its own, so no preference
// of whoever runs the tests (a key log file set in Wireshark's settings)
// takes part: secrets can come from the file alone.
ReaderRun RunReader(const std::string& tool, std::vector<std::string> args, const TempDir& home) {
  ReaderRun run;
  std::string program = FindProgram(tool);
  if (program.empty()) {
    ADD_FAILURE() << tool << " not found in PATH: run scripts/install-deps.sh (it installs "
                  << "Debian's tshark package, which brings tshark and capinfos)";
    return run;
  }
  args.insert(args.begin(), program);
  bpf_test::SpawnOptions options = bpf_test::Command(args);
  options.env = {"HOME=" + home.path(), "XDG_CONFIG_HOME=" + home / "config", "LC_ALL=C"};
  bpf_test::RunResult result = bpf_test::RunToEnd(options, 60s);
  EXPECT_EQ(result.status, 0) << bpf_test::JoinArgv(args) << "\n" << result.err;
  run.ran = true;
  run.out = result.out;
  run.warnings = Warnings(result.err);
  return run;
}

// The HTTP messages tshark decrypted, one line each:
// "method<TAB>uri<TAB>code".
std::string DecryptedHttp(const std::string& file, const TempDir& home) {
  ReaderRun run = RunReader("tshark",
                            {"-r", file, "-Y", "http", "-T", "fields", "-e", "http.request.method",
                             "-e", "http.request.uri", "-e", "http.response.code"},
                            home);
  EXPECT_EQ(run.warnings, "") << "tshark -r " << file;
  return run.out;
}

// capinfos's report, after checking it has nothing to warn about.
std::string ExpectCapinfosReadsCleanly(const std::string& file, const TempDir& home) {
  ReaderRun run = RunReader("capinfos", {file}, home);
  if (!run.ran) return "";
  EXPECT_EQ(run.warnings, "") << "capinfos " << file;
  EXPECT_NE(run.out.find("File encapsulation:  Ethernet"), std::string::npos) << run.out;
  return run.out;
}

// ---- The tests -----------------------------------------------------------

class TsharkDecrypts : public testing::TestWithParam<TlsParams> {};

// Everything the session produced, through the reorder buffer (default 2 s
// delay: the secrets come out first) into out.pcapng.
TEST_P(TsharkDecrypts, HttpRequestAndResponseWithSecretsFromTheFileAlone) {
  TlsSession session(GetParam(), 51514, 1'795'300'000'000'000'000);
  std::string error;
  ASSERT_TRUE(session.run(&error)) << error;
  ASSERT_EQ(session.negotiated_cipher(), GetParam().cipher);
  // Each end logged every secret: TLS 1.2 one CLIENT_RANDOM, TLS 1.3 five.
  size_t per_end = GetParam().version == TLS1_3_VERSION ? 5 : 1;
  ASSERT_EQ(session.raw_key_log().size(), 2 * per_end);
  // The library's own lines are exactly what tlstap would format.
  for (const std::string& raw : session.raw_key_log()) {
    EXPECT_EQ(keys::format_key_log_line(*keys::parse_key_log_line(raw)), raw + "\n");
  }

  TempDir dir;
  std::string path = dir / "out.pcapng";
  Result<std::unique_ptr<Writer>> writer = Writer::make(numbered_files(path));
  ASSERT_TRUE(writer) << writer.error().message;
  ASSERT_TRUE((*writer)->add_interface({.link_type = kLinkTypeEthernet, .name = "eth0"}));
  ReorderBuffer reorder(writer->get());
  for (const CaptureEvent& event : session.events()) {
    ASSERT_TRUE(reorder.release(event.ts_ns));
    if (event.packet) {
      ASSERT_TRUE(reorder.add_packet(*event.packet));
    } else {
      ASSERT_TRUE(reorder.add_secrets(event.secrets));
    }
  }
  ASSERT_TRUE(reorder.flush_all());
  ASSERT_TRUE((*writer)->flush());
  writer->reset();

  EXPECT_EQ(DecryptedHttp(path, dir), "GET\t/hello\t\n\t\t200\n");
  // One DSB per line the client logged: the server's copies were dropped.
  std::string info = ExpectCapinfosReadsCleanly(path, dir);
  EXPECT_NE(info.find("Number of decryption secrets in file: " + std::to_string(per_end) + "\n"),
            std::string::npos)
      << info;
  // The frames are well formed: tshark finds no bad checksum, and each
  // carries its owner.
  ReaderRun checked = RunReader(
      "tshark",
      {"-r", path, "-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-T", "fields",
       "-e", "ip.checksum.status", "-e", "tcp.checksum.status", "-e", "frame.comment"},
      dir);
  std::istringstream lines(checked.out);
  size_t frames = 0;
  for (std::string line; std::getline(lines, line); ++frames) {
    EXPECT_EQ(line, "1\t1\tpid=4242 comm=curl") << "frame " << frames + 1;
  }
  auto is_packet = [](const CaptureEvent& e) { return e.packet.has_value(); };
  EXPECT_EQ(frames, static_cast<size_t>(std::ranges::count_if(session.events(), is_packet)));
}

// The control: the same frames with no Decryption Secrets Block stay
// encrypted, so what tshark showed above came from the DSB.
TEST_P(TsharkDecrypts, WithoutTheSecretsNothingIsDecrypted) {
  TlsSession session(GetParam(), 51514, 1'795'300'000'000'000'000);
  std::string error;
  ASSERT_TRUE(session.run(&error)) << error;
  TempDir dir;
  std::string path = dir / "out.pcapng";
  std::unique_ptr<Writer> writer = *Writer::make(numbered_files(path));
  ASSERT_TRUE(writer->add_interface({.name = "eth0"}));
  for (const CaptureEvent& event : session.events()) {
    if (event.packet) {
      ASSERT_TRUE(writer->write_packet(*event.packet));
    }
  }
  ASSERT_TRUE(writer->flush());
  writer.reset();
  EXPECT_EQ(DecryptedHttp(path, dir), "");
  ExpectCapinfosReadsCleanly(path, dir);
}

// Two sessions, their secrets logged before either's packets went out (as
// the reorder buffer writes them), and a file size that puts each session
// in a file of its own. The second file's secrets are the copy the writer
// put at its start: without it tshark could not decrypt session b.
TEST(TsharkRotation, EachFileDecryptsAlone) {
  const TlsParams params{"tls13_aes128gcm", TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256"};
  const uint64_t start = 1'795'300'000'000'000'000;
  TlsSession a(params, 51514, start, "/a"), b(params, 51515, start + 1'000'000'000, "/b");
  std::string error;
  ASSERT_TRUE(a.run(&error)) << error;
  ASSERT_TRUE(b.run(&error)) << error;

  std::vector<keys::KeyLogLine> secrets;
  std::vector<Packet> packets_a, packets_b;
  for (const CaptureEvent& e : a.events()) {
    if (e.packet) packets_a.push_back(*e.packet);
    secrets.insert(secrets.end(), e.secrets.begin(), e.secrets.end());
  }
  for (const CaptureEvent& e : b.events()) {
    if (e.packet) packets_b.push_back(*e.packet);
    secrets.insert(secrets.end(), e.secrets.begin(), e.secrets.end());
  }
  // The size of a file's start (SHB, IDB, one DSB of every secret) and of
  // each session's packets, from the same encoders the writer uses.
  const Interface eth0{.name = "eth0"};
  std::string preamble;
  append_section_header(&preamble, "tlstap");
  append_interface_description(&preamble, eth0);
  std::string text;
  keys::KeyLogSet unique;
  for (const keys::KeyLogLine& line : secrets) {
    if (unique.insert(line)) text += keys::format_key_log_line(line);
  }
  append_decryption_secrets(&preamble, text);
  auto packets_size = [&](const std::vector<Packet>& packets) {
    std::string blocks;
    for (const Packet& p : packets) append_enhanced_packet(&blocks, p, eth0.snap_len);
    return blocks.size();
  };
  uint64_t rotate_bytes =
      preamble.size() + std::max(packets_size(packets_a), packets_size(packets_b));

  TempDir dir;
  std::string path = dir / "out.pcapng";
  std::unique_ptr<Writer> writer =
      *Writer::make(numbered_files(path), {.rotate_bytes = rotate_bytes});
  ASSERT_TRUE(writer->add_interface(eth0));
  ASSERT_TRUE(writer->write_secrets(secrets));
  for (const Packet& p : packets_a) ASSERT_TRUE(writer->write_packet(p));
  for (const Packet& p : packets_b) ASSERT_TRUE(writer->write_packet(p));
  ASSERT_TRUE(writer->flush());
  ASSERT_EQ(writer->files_started(), 2u);
  writer.reset();

  EXPECT_EQ(DecryptedHttp(path, dir), "GET\t/a\t\n\t\t200\n");
  EXPECT_EQ(DecryptedHttp(path + ".1", dir), "GET\t/b\t\n\t\t200\n");
  ExpectCapinfosReadsCleanly(path, dir);
  ExpectCapinfosReadsCleanly(path + ".1", dir);
}

INSTANTIATE_TEST_SUITE_P(
    TlsVersionsAndCiphers, TsharkDecrypts,
    testing::Values(TlsParams{"tls12_aes128gcm", TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256"},
                    TlsParams{"tls12_aes256gcm", TLS1_2_VERSION, "ECDHE-ECDSA-AES256-GCM-SHA384"},
                    TlsParams{"tls12_chacha20", TLS1_2_VERSION, "ECDHE-ECDSA-CHACHA20-POLY1305"},
                    TlsParams{"tls13_aes128gcm", TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256"},
                    TlsParams{"tls13_aes256gcm", TLS1_3_VERSION, "TLS_AES_256_GCM_SHA384"},
                    TlsParams{"tls13_chacha20", TLS1_3_VERSION, "TLS_CHACHA20_POLY1305_SHA256"}),
    [](const testing::TestParamInfo<TlsParams>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace tlstap::pcapng
