// ktls_peer: a TLS peer on OpenSSL (Debian's libssl.so.3) that can hand its
// session to kernel TLS, for tlstap's kTLS tests. It takes the command line
// of tests/progs/tls_peer.py and reports the same JSON lines, with the same
// payloads, for two of its modes:
//   server exchange  for each size: receive c2s, send s2c; then read until
//                    the client goes away
//   client exchange  for each size: send c2s, receive s2c; then close (after
//                    a close_notify)
// and adds:
//   --ktls            SSL_OP_ENABLE_KTLS
//   --cipher NAME     AES128-GCM, AES256-GCM, CHACHA20-POLY1305 (ECDHE suites
//                     under --tls 1.2, TLS_* suites under 1.3) or an OpenSSL name
//   --send-api ssl|write|sendfile
//       ssl       one SSL_write_ex per payload
//       write     write() on the socket, which kTLS TX encrypts; repeated
//                 after a partial write
//       sendfile  the payload put in an anonymous file (memfd_create, never
//                 linked into a directory) and sent with SSL_sendfile, which
//                 has the kernel splice it into kTLS TX
//   --recv-api ssl|read|splice
//       ssl       SSL_read_ex
//       read      recvmsg() on the socket, which kTLS RX decrypts (records
//                 other than application data: see PlainReader)
//       splice    splice() from the socket into a pipe, then read() from the
//                 pipe; a record other than application data, which splice
//                 refuses (EINVAL), is read with recvmsg()
// write and sendfile need kTLS TX, read and splice need kTLS RX. OpenSSL 3.0 and 3.1
// offload only the sending side of a TLS 1.3 session: there read needs 3.2.
//
// stdout, one JSON object per line (tls_peer.py's lines, with more fields):
//   {"event":"listening","port":P}                           server, before accept
//   {"event":"connected","role":..,"pid":..,"fd":..,"laddr":[host,port],
//    "raddr":[host,port],"version":"TLSv1.2","libssl":[mapped libssl paths],
//    "ktls_tx":true,"ktls_rx":true,"cipher":"ECDHE-RSA-AES128-GCM-SHA256"}
//   {"event":"sent","bytes":N,"api":"write","calls":C}       each payload
//   {"event":"received","bytes":N,"api":"ssl","calls":C}       each payload; with
//                       --recv-api read or splice also "skipped_records":S (see PlainReader)
//   {"event":"done"}
// Exit status: 0 done; 1 an error (one line on stderr); 2 a bad command
// line; 3 a payload arrived different from what was sent; 4 the --send-api
// or --recv-api asked for needs kTLS in a direction where it is not active
// (after the "connected" line, which says which).
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "tools/openssl_ktls.h"

namespace {

using namespace tlstap::tools;

constexpr char kUsage[] =
    "usage: ktls_peer server|client exchange [--host H] [--port P] [--tls 1.2|1.3]\n"
    "                 [--sizes N,N,..] [--tag T] [--cert F --key F] [--comm NAME] [--wait-go]\n"
    "                 [--sndbuf N] [--rcvbuf N] [--ktls] [--cipher NAME]\n"
    "                 [--send-api ssl|write|sendfile] [--recv-api ssl|read]\n";

enum ExitStatus { kOk = 0, kError = 1, kUsageError = 2, kAltered = 3, kNoKtls = 4 };

// The largest plaintext a TLS record carries.
constexpr size_t kMaxRecord = 16384;
// TLS record content types (RFC 8446 5.1) and handshake message types (4).
constexpr unsigned char kAlert = 21, kHandshake = 22, kApplicationData = 23;
constexpr unsigned char kNewSessionTicket = 4, kKeyUpdate = 24;
constexpr unsigned char kCloseNotify = 0;

[[noreturn]] void die(const std::string& what, int status = kError) {
  std::cerr << "ktls_peer: " << what << "\n";
  std::exit(status);
}

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

enum class SendApi { kSsl, kWrite, kSendfile };
enum class RecvApi { kSsl, kRead, kSplice };
constexpr const char* kSendApiNames[] = {"ssl", "write", "sendfile"};
constexpr const char* kRecvApiNames[] = {"ssl", "read", "splice"};

struct Options {
  std::string role, mode;
  std::string host = "127.0.0.1";
  int port = 0;
  TlsSettings tls{.version = TlsVersion::kTls13, .cipher = "", .ktls = false};
  std::vector<size_t> sizes = {100};
  std::string tag = "peer";
  std::string cert, key;
  std::string comm;
  bool wait_go = false;
  int sndbuf = 0, rcvbuf = 0;
  SendApi send_api = SendApi::kSsl;
  RecvApi recv_api = RecvApi::kSsl;
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "ktls_peer: " << why << "\n" << kUsage;
  std::exit(kUsageError);
}

long long parse_number(std::string_view option, std::string_view text) {
  long long v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < 0) {
    usage(std::string(option) + " wants a number, not " + std::string(text));
  }
  return v;
}

Options parse_options(int argc, char** argv) {
  Options o;
  std::vector<std::string_view> positional;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) usage(std::string(arg) + " needs a value");
      return argv[++i];
    };
    if (arg == "--host") {
      o.host = value();
    } else if (arg == "--port") {
      o.port = static_cast<int>(parse_number(arg, value()));
    } else if (arg == "--tls") {
      auto version = parse_tls_version(value());
      if (!version) usage("--tls is 1.2 or 1.3");
      o.tls.version = *version;
    } else if (arg == "--sizes") {
      o.sizes.clear();
      std::stringstream list{std::string(value())};
      for (std::string size; std::getline(list, size, ',');) {
        if (!size.empty()) o.sizes.push_back(parse_number(arg, size));
      }
    } else if (arg == "--tag") {
      o.tag = value();
    } else if (arg == "--cert") {
      o.cert = value();
    } else if (arg == "--key") {
      o.key = value();
    } else if (arg == "--comm") {
      o.comm = value();
    } else if (arg == "--wait-go") {
      o.wait_go = true;
    } else if (arg == "--sndbuf") {
      o.sndbuf = static_cast<int>(parse_number(arg, value()));
    } else if (arg == "--rcvbuf") {
      o.rcvbuf = static_cast<int>(parse_number(arg, value()));
    } else if (arg == "--ktls") {
      o.tls.ktls = true;
    } else if (arg == "--cipher") {
      o.tls.cipher = value();
    } else if (arg == "--send-api") {
      std::string_view v = value();
      auto it = std::find(std::begin(kSendApiNames), std::end(kSendApiNames), v);
      if (it == std::end(kSendApiNames)) usage("--send-api is ssl, write or sendfile");
      o.send_api = static_cast<SendApi>(it - std::begin(kSendApiNames));
    } else if (arg == "--recv-api") {
      std::string_view v = value();
      auto it = std::find(std::begin(kRecvApiNames), std::end(kRecvApiNames), v);
      if (it == std::end(kRecvApiNames)) usage("--recv-api is ssl, read or splice");
      o.recv_api = static_cast<RecvApi>(it - std::begin(kRecvApiNames));
    } else if (arg.starts_with("--")) {
      usage("unknown option " + std::string(arg));
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.size() != 2) usage("wants a role and a mode");
  o.role = positional[0];
  o.mode = positional[1];
  if (o.role != "server" && o.role != "client") usage("the role is server or client");
  if (o.mode != "exchange") {
    usage("mode " + o.mode + ": ktls_peer has only exchange (tls_peer.py has the others)");
  }
  if (o.role == "server" && (o.cert.empty() || o.key.empty()))
    usage("a server needs --cert and --key");
  return o;
}

// --- output ------------------------------------------------------------------

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

void emit(const std::string& fields) { std::cout << "{" << fields << "}\n" << std::flush; }

// [host, port] of a socket address.
std::string json_address(const sockaddr_storage& addr) {
  char host[INET6_ADDRSTRLEN] = "";
  int port = 0;
  if (addr.ss_family == AF_INET6) {
    const auto& a6 = reinterpret_cast<const sockaddr_in6&>(addr);
    inet_ntop(AF_INET6, &a6.sin6_addr, host, sizeof(host));
    port = ntohs(a6.sin6_port);
  } else {
    const auto& a4 = reinterpret_cast<const sockaddr_in&>(addr);
    inet_ntop(AF_INET, &a4.sin_addr, host, sizeof(host));
    port = ntohs(a4.sin_port);
  }
  return "[" + json_string(host) + "," + std::to_string(port) + "]";
}

// The mapped files whose path contains "libssl", as a JSON array.
std::string json_mapped_libssl() {
  std::set<std::string> paths;
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    size_t slash = line.find('/');
    if (slash != std::string::npos && line.find("libssl", slash) != std::string::npos) {
      paths.insert(line.substr(slash));
    }
  }
  std::string out;
  for (const std::string& p : paths) out += (out.empty() ? "" : ",") + json_string(p);
  return "[" + out + "]";
}

// --- payloads ----------------------------------------------------------------

// size printable bytes: the SHA-256 hex digests of "<seed>/<block index>",
// concatenated and cut to size, as tls_peer.py and tests/bpf/test_env.cc make them.
std::string payload(const std::string& seed, size_t size) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(size + 64);
  for (size_t block = 0; out.size() < size; ++block) {
    std::string input = seed + "/" + std::to_string(block);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_Digest(input.data(), input.size(), digest, &n, EVP_sha256(), nullptr) != 1) {
      die("SHA-256: " + take_openssl_errors());
    }
    for (unsigned int i = 0; i < n; ++i) {
      out += kHex[digest[i] >> 4];
      out += kHex[digest[i] & 0xf];
    }
  }
  out.resize(size);
  return out;
}

std::string seed(const Options& o, const char* direction, size_t size) {
  return o.tag + "/" + direction + "/" + std::to_string(size);
}

// --- sockets -----------------------------------------------------------------

// host:port as a socket address; an IPv6 host has a ':' (as in tls_peer.py).
sockaddr_storage socket_address(const std::string& host, int port, socklen_t* len) {
  sockaddr_storage addr{};
  if (host.find(':') != std::string::npos) {
    auto& a6 = reinterpret_cast<sockaddr_in6&>(addr);
    a6.sin6_family = AF_INET6;
    a6.sin6_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET6, host.c_str(), &a6.sin6_addr) != 1) usage("bad --host " + host);
    *len = sizeof(a6);
  } else {
    auto& a4 = reinterpret_cast<sockaddr_in&>(addr);
    a4.sin_family = AF_INET;
    a4.sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, host.c_str(), &a4.sin_addr) != 1) usage("bad --host " + host);
    *len = sizeof(a4);
  }
  return addr;
}

void set_buffer(int fd, int option, int bytes, const char* name) {
  if (bytes && setsockopt(fd, SOL_SOCKET, option, &bytes, sizeof(bytes)) != 0) {
    die(errno_text(name));
  }
}

// Listens on --host:--port, says so, and accepts one connection.
int accept_one(const Options& o) {
  socklen_t len = 0;
  sockaddr_storage addr = socket_address(o.host, o.port, &len);
  int listener = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener < 0) die(errno_text("socket"));
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  set_buffer(listener, SO_RCVBUF, o.rcvbuf, "SO_RCVBUF");
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), len) != 0) die(errno_text("bind"));
  if (listen(listener, 1) != 0) die(errno_text("listen"));
  if (getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    die(errno_text("getsockname"));
  }
  int port = ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6&>(addr).sin6_port
                                              : reinterpret_cast<sockaddr_in&>(addr).sin_port);
  emit("\"event\":\"listening\",\"port\":" + std::to_string(port));
  int fd = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) die(errno_text("accept"));
  close(listener);
  return fd;
}

int connect_to(const Options& o) {
  socklen_t len = 0;
  sockaddr_storage addr = socket_address(o.host, o.port, &len);
  int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die(errno_text("socket"));
  set_buffer(fd, SO_SNDBUF, o.sndbuf, "SO_SNDBUF");
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    die(errno_text("connect to " + o.host + ":" + std::to_string(o.port)));
  }
  return fd;
}

// --- TLS ---------------------------------------------------------------------

SslPtr handshake(const Options& o, int fd) {
  bool server = o.role == "server";
  auto ctx = make_context(server ? TLS_server_method() : TLS_client_method(), o.tls);
  if (!ctx) usage(ctx.error());
  if (server && (SSL_CTX_use_certificate_chain_file(ctx->get(), o.cert.c_str()) != 1 ||
                 SSL_CTX_use_PrivateKey_file(ctx->get(), o.key.c_str(), SSL_FILETYPE_PEM) != 1)) {
    die("cannot load " + o.cert + " and " + o.key + ": " + take_openssl_errors());
  }
  SslPtr ssl(SSL_new(ctx->get()));  // holds its own reference to the context
  if (!ssl || SSL_set_fd(ssl.get(), fd) != 1) die("SSL_new: " + take_openssl_errors());
  if ((server ? SSL_accept(ssl.get()) : SSL_connect(ssl.get())) != 1) {
    std::string why = take_openssl_errors();
    die("TLS handshake failed: " + (why.empty() ? "the peer closed the connection" : why));
  }
  return ssl;
}

// The connection's two ends, taken before the handshake: a peer that gives
// up right after its own (status 4) may be gone by the end of ours.
struct Ends {
  sockaddr_storage local{}, remote{};
};

Ends ends_of(int fd) {
  Ends e;
  socklen_t len = sizeof(e.local);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&e.local), &len) != 0) {
    die(errno_text("getsockname"));
  }
  len = sizeof(e.remote);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&e.remote), &len) != 0) {
    die(errno_text("getpeername"));
  }
  return e;
}

void announce(const Options& o, SSL* ssl, int fd, const Ends& ends) {
  const sockaddr_storage& local = ends.local;
  const sockaddr_storage& remote = ends.remote;
  KtlsState state = ktls_state(ssl);
  emit("\"event\":\"connected\",\"role\":" + json_string(o.role) +
       ",\"pid\":" + std::to_string(getpid()) + ",\"fd\":" + std::to_string(fd) +
       ",\"laddr\":" + json_address(local) + ",\"raddr\":" + json_address(remote) +
       ",\"version\":" + json_string(SSL_get_version(ssl)) + ",\"libssl\":" + json_mapped_libssl() +
       ",\"ktls_tx\":" + (state.tx ? "true" : "false") + ",\"ktls_rx\":" +
       (state.rx ? "true" : "false") + ",\"cipher\":" + json_string(SSL_get_cipher_name(ssl)));
}

// Why kTLS did not take a direction of this session, most likely cause first.
std::string why_inactive(const Options& o, SSL* ssl, bool receive) {
  if (!o.tls.ktls) return "--ktls was not given";
  if (!tls_module_loaded())
    return "the tls module is not loaded (no /proc/net/tls_stat; modprobe tls)";
  if (!kernel_offloads_cipher(ssl)) {
    return std::string("OpenSSL does not hand the cipher ") + SSL_get_cipher_name(ssl) +
           " to the kernel";
  }
  if (receive && SSL_version(ssl) == TLS1_3_VERSION && !openssl_receives_tls13_with_ktls()) {
    return std::string("OpenSSL ") + OpenSSL_version(OPENSSL_VERSION_STRING) +
           " offloads only the sending side of TLS 1.3 (receive from 3.2 on); use --tls 1.2";
  }
  return "OpenSSL kept the keys (tools/ktls_client lists what to check)";
}

// Exits 4 when an api needs kTLS in a direction the kernel did not take.
void require_ktls(const Options& o, SSL* ssl) {
  KtlsState state = ktls_state(ssl);
  if (o.send_api != SendApi::kSsl && !state.tx) {
    die(std::string("--send-api ") + kSendApiNames[static_cast<int>(o.send_api)] +
            " needs kTLS TX, which is not active: " + why_inactive(o, ssl, false),
        kNoKtls);
  }
  if (o.recv_api != RecvApi::kSsl && !state.rx) {
    die(std::string("--recv-api ") + kRecvApiNames[static_cast<int>(o.recv_api)] +
            " needs kTLS RX, which is not active: " + why_inactive(o, ssl, true),
        kNoKtls);
  }
}

// --- moving payloads ---------------------------------------------------------

// Sends data through --send-api; returns the number of calls it took.
size_t send_payload(const Options& o, SSL* ssl, int fd, const std::string& data) {
  size_t calls = 0, done = 0;
  switch (o.send_api) {
    case SendApi::kSsl:
      while (done < data.size()) {  // one call: partial writes are off
        size_t n = 0;
        ++calls;
        if (SSL_write_ex(ssl, data.data() + done, data.size() - done, &n) != 1) {
          die("SSL_write_ex: " + take_openssl_errors());
        }
        done += n;
      }
      break;
    case SendApi::kWrite:
      while (done < data.size()) {
        ++calls;
        ssize_t n = write(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno != EINTR) die(errno_text("write"));
        done += n > 0 ? static_cast<size_t>(n) : 0;
      }
      break;
    case SendApi::kSendfile: {
      int file = memfd_create("ktls_peer-payload", MFD_CLOEXEC);
      if (file < 0) die(errno_text("memfd_create"));
      for (size_t at = 0; at < data.size();) {
        ssize_t n = pwrite(file, data.data() + at, data.size() - at, static_cast<off_t>(at));
        if (n < 0 && errno != EINTR) die(errno_text("writing the payload file"));
        at += n > 0 ? static_cast<size_t>(n) : 0;
      }
      while (done < data.size()) {
        ++calls;
        ossl_ssize_t n = SSL_sendfile(ssl, file, static_cast<off_t>(done), data.size() - done, 0);
        if (n < 0) die("SSL_sendfile: " + take_openssl_errors());
        done += static_cast<size_t>(n);
      }
      close(file);
      break;
    }
  }
  return calls;
}

// Plain reads from a socket whose receiving side kTLS holds. recvmsg()
// returns decrypted application data. A record of any other type (an alert,
// a TLS 1.3 NewSessionTicket or KeyUpdate) comes alone, its type in a
// SOL_TLS/TLS_GET_RECORD_TYPE control message; a read() without room for
// that message fails with EIO instead. NewSessionTickets are skipped (and
// counted): this peer never resumes. A KeyUpdate would need new keys
// installed in the kernel, which a plain reader cannot do: it is an error.
class PlainReader {
 public:
  // splice: through a pipe (--recv-api splice) instead of recvmsg().
  PlainReader(int fd, bool splice) : fd_(fd) {
    if (splice && pipe2(pipe_, O_CLOEXEC) != 0) die(errno_text("pipe2"));
  }
  ~PlainReader() {
    for (int p : pipe_) {
      if (p >= 0) close(p);
    }
  }
  PlainReader(const PlainReader&) = delete;
  PlainReader& operator=(const PlainReader&) = delete;

  // Exactly size bytes of application data, or dies.
  std::string read_exactly(size_t size, size_t* calls, size_t* skipped) {
    std::string out(size, '\0');
    size_t got = std::min(size, leftover_.size());
    leftover_.copy(out.data(), got);
    leftover_.erase(0, got);
    while (got < size) {
      // Straight into the payload while a whole record fits; a smaller tail
      // goes through scratch_, so that a control record always has room.
      bool direct = size - got >= kMaxRecord;
      char* into = direct ? out.data() + got : scratch_;
      size_t room = direct ? size - got : sizeof(scratch_);
      ++*calls;
      unsigned char type = kApplicationData;
      ssize_t n = receive(into, room, &type);
      if (n == 0) die("the peer closed after " + progress(got, size));
      if (type != kApplicationData) {
        if (!skip_control_record(type, into, static_cast<size_t>(n))) {
          die("the peer closed (close_notify) after " + progress(got, size));
        }
        ++*skipped;
        continue;
      }
      size_t used = std::min(static_cast<size_t>(n), size - got);
      if (!direct) {
        std::memcpy(out.data() + got, scratch_, used);
        leftover_.append(scratch_ + used, static_cast<size_t>(n) - used);
      }
      got += used;
    }
    return out;
  }

  // Reads until the peer closes (EOF, close_notify or a reset).
  void wait_for_close() {
    for (;;) {
      unsigned char type = kApplicationData;
      ssize_t n = receive(scratch_, sizeof(scratch_), &type, /*fail=*/false);
      if (n <= 0) return;
      if (type != kApplicationData &&
          !skip_control_record(type, scratch_, static_cast<size_t>(n))) {
        return;
      }
    }
  }

 private:
  static std::string progress(size_t got, size_t size) {
    return std::to_string(got) + " of " + std::to_string(size) + " bytes";
  }

  // One recvmsg(); the record type from its control message. Dies on an
  // error if fail, returns -1 otherwise.
  ssize_t receive(char* buf, size_t len, unsigned char* type, bool fail = true) {
    if (pipe_[0] >= 0) {
      ssize_t n = receive_spliced(buf, len, fail);
      if (n != kNotApplicationData) return n;
    }
    for (;;) {
      iovec iov{.iov_base = buf, .iov_len = len};
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(unsigned char))];
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof(control);
      ssize_t n = recvmsg(fd_, &msg, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        if (fail) die(errno_text("recvmsg"));
        return -1;
      }
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_TLS && c->cmsg_type == TLS_GET_RECORD_TYPE) {
          *type = *CMSG_DATA(c);
        }
      }
      return n;
    }
  }

  // True if the record can be passed over; false for a close_notify. Dies
  // on anything else.
  static bool skip_control_record(unsigned char type, const char* data, size_t len) {
    auto byte = [&](size_t i) { return i < len ? static_cast<unsigned char>(data[i]) : 0xff; };
    if (type == kHandshake && byte(0) == kNewSessionTicket) return true;
    if (type == kAlert && byte(1) == kCloseNotify) return false;
    if (type == kHandshake && byte(0) == kKeyUpdate) {
      die("a KeyUpdate arrived: a plain reader cannot give the kernel the new keys");
    }
    die("a record of type " + std::to_string(type) + " (first byte " + std::to_string(byte(0)) +
        ") arrived where application data was expected");
  }

  static constexpr ssize_t kNotApplicationData = -2;

  // One splice() of a record into the pipe, and its bytes read back out;
  // kNotApplicationData when the next record is of another type (splice
  // leaves it for recvmsg()).
  ssize_t receive_spliced(char* buf, size_t len, bool fail) {
    ssize_t n;
    do {
      n = splice(fd_, nullptr, pipe_[1], nullptr, len, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EINVAL) return kNotApplicationData;
    if (n < 0) {
      if (fail) die(errno_text("splice"));
      return -1;
    }
    for (ssize_t got = 0; got < n;) {
      ssize_t r = read(pipe_[0], buf + got, static_cast<size_t>(n - got));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) die(r < 0 ? errno_text("read from the pipe") : "the pipe ended early");
      got += r;
    }
    return n;
  }

  int fd_;
  int pipe_[2] = {-1, -1};
  char scratch_[kMaxRecord];
  std::string leftover_;  // application data read past a payload's end
};

// Receives exactly size bytes through --recv-api.
std::string receive_payload(const Options& o, SSL* ssl, PlainReader& plain, size_t size,
                            size_t* calls, size_t* skipped) {
  if (o.recv_api != RecvApi::kSsl) return plain.read_exactly(size, calls, skipped);
  std::string out(size, '\0');
  for (size_t got = 0; got < size;) {
    size_t n = 0;
    ++*calls;
    if (SSL_read_ex(ssl, out.data() + got, size - got, &n) != 1) {
      std::string why = take_openssl_errors();
      die("SSL_read_ex after " + std::to_string(got) + " of " + std::to_string(size) +
          " bytes: " + (why.empty() ? "the peer closed" : why));
    }
    got += n;
  }
  return out;
}

void expect(const std::string& data, const std::string& expected_seed) {
  if (data != payload(expected_seed, data.size())) {
    die("payload " + expected_seed + " arrived altered", kAltered);
  }
}

void report(const char* event, size_t bytes, const char* api, size_t calls,
            const std::string& more = "") {
  emit(std::string("\"event\":\"") + event + "\",\"bytes\":" + std::to_string(bytes) +
       ",\"api\":\"" + api + "\",\"calls\":" + std::to_string(calls) + more);
}

void exchange(const Options& o, SSL* ssl, int fd) {
  PlainReader plain(fd, o.recv_api == RecvApi::kSplice);
  const char* send_api = kSendApiNames[static_cast<int>(o.send_api)];
  const char* recv_api = kRecvApiNames[static_cast<int>(o.recv_api)];
  bool server = o.role == "server";
  for (size_t size : o.sizes) {
    auto receive = [&](const char* direction) {
      size_t calls = 0, skipped = 0;
      std::string data = receive_payload(o, ssl, plain, size, &calls, &skipped);
      expect(data, seed(o, direction, size));
      std::string skipped_field =
          o.recv_api != RecvApi::kSsl ? ",\"skipped_records\":" + std::to_string(skipped) : "";
      report("received", size, recv_api, calls, skipped_field);
    };
    auto send = [&](const char* direction) {
      size_t calls = send_payload(o, ssl, fd, payload(seed(o, direction, size), size));
      report("sent", size, send_api, calls);
    };
    if (server) {
      receive("c2s");
      send("s2c");
    } else {
      send("c2s");
      receive("s2c");
    }
  }
  if (!server) {
    SSL_shutdown(ssl);  // close_notify, without waiting for the server's
    return;
  }
  // Until the client goes away: an unread byte at close() would reset the
  // connection.
  if (o.recv_api != RecvApi::kSsl) {
    plain.wait_for_close();
  } else {
    char buf[kMaxRecord];
    size_t n = 0;
    while (SSL_read_ex(ssl, buf, sizeof(buf), &n) == 1) {
    }
    take_openssl_errors();
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse_options(argc, argv);
  if (!o.comm.empty()) {
    // libssl was mapped at exec, under the name of this file: unlike
    // tls_peer.py, the new name applies only from here on.
    prctl(PR_SET_NAME, o.comm.c_str(), 0, 0, 0);
  }
  signal(SIGPIPE, SIG_IGN);  // a peer gone away is an error return, not the end

  int fd = o.role == "server" ? accept_one(o) : connect_to(o);
  const Ends ends = ends_of(fd);
  SslPtr ssl = handshake(o, fd);
  announce(o, ssl.get(), fd, ends);
  require_ktls(o, ssl.get());
  if (o.recv_api != RecvApi::kSsl && SSL_has_pending(ssl.get())) {
    die("OpenSSL already holds received bytes, which plain reads would miss");
  }
  if (o.wait_go && o.role == "client") {
    std::string line;
    std::getline(std::cin, line);
  }
  exchange(o, ssl.get(), fd);
  ssl.reset();
  close(fd);
  emit("\"event\":\"done\"");
  return kOk;
}
