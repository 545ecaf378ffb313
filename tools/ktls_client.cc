// ktls_client: connects with OpenSSL's kernel TLS (SSL_OP_ENABLE_KTLS) on,
// shows in a box whether the kernel took over each direction of the
// session, sends one HTTP GET and prints the reply. Without a host it
// starts its own test server (tools/ktls_test_server.h) and talks to that.
// `ktls_client --help` says what kTLS is and what it needs.
#include <netdb.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tools/ktls_test_server.h"
#include "tools/openssl_ktls.h"

namespace {

using namespace tlstap::tools;

constexpr char kUsage[] =
    R"(usage: ktls_client [HOST[:PORT]] [--host HOST] [--port PORT] [--tls 1.2|1.3]
                   [--cipher NAME] [--path PATH] [--verify] [--help]

Shows whether kernel TLS (kTLS) takes over a TLS connection made with
OpenSSL, then sends one HTTP GET over it and prints the reply.

What kTLS is: OpenSSL still does the handshake, then hands the session's
keys to the kernel (setsockopt TCP_ULP "tls", then SOL_TLS TLS_TX for
sending and TLS_RX for receiving). From then on the kernel encrypts what is
written to the socket and decrypts what is read from it. SSL_write and
SSL_read keep working (OpenSSL passes plaintext to the socket), and so do
plain write(), read(), sendfile() and splice() on that socket, which never
enter the TLS library at all.

Without HOST, ktls_client starts its own TLS server on 127.0.0.1 (a thread
with a self-signed certificate made in memory and kTLS on as well) and
connects to it. With HOST it connects there, to PORT 443 unless told.

Options:
  HOST[:PORT], --host HOST, --port PORT
                     the server; an IPv6 address as [ADDR]:PORT. SNI is HOST.
  --tls 1.2|1.3      the TLS version (default: the highest both sides have)
  --cipher NAME      AES128-GCM, AES256-GCM or CHACHA20-POLY1305, the ciphers
                     Linux kTLS takes (ECDHE suites under TLS 1.2, TLS_* suites
                     under 1.3); other OpenSSL names go through as they are
                     (TLS_* as TLS 1.3 suites, others as a TLS 1.2 cipher list)
  --path PATH        what to GET (default /)
  --verify           check the server's certificate against the system CAs
                     (default: not checked, which the box says)
  --help             this text

What kTLS needs:
  the tls module   `sudo modprobe tls` (a kernel with CONFIG_TLS). It is
                   loaded when /proc/net/tls_stat exists; its counters
                   (TlsCurrTxSw, TlsCurrRxSw, ...) count the sessions the
                   kernel holds. The kernel loads it by itself for root only.
  a cipher         AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305 (Linux 5.11+)
  OpenSSL          built with kTLS (Debian's is) and SSL_OP_ENABLE_KTLS set
                   (ktls_client sets it). OpenSSL 3.0 and 3.1 offload only the
                   sending side of a TLS 1.3 session; 3.2 and later receive too.

Seen by tlstap:
  sudo modprobe tls
  sudo build/tlstap -c ktls_client        # in one terminal
  build/tools/ktls_client --tls 1.2       # in another
  tlstap shows the GET and the reply, from both the client and the test
  server (one process), whether kTLS is active or not.

Exit status: 0 a reply arrived (whether kTLS was active or not); 1 no
connection, failed handshake or no reply (one line on stderr); 2 bad
command line.
)";

// Neither connect() nor a read waits longer than this.
constexpr int kIoTimeoutSeconds = 10;

struct ClientOptions {
  std::string host;  // empty: ktls_client's own test server
  std::string port;  // empty: 443, or the test server's
  TlsSettings tls;
  std::string path = "/";
  bool verify = false;
  bool help = false;
};

bool valid_port(std::string_view text) {
  int port = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  return ec == std::errc() && end == text.data() + text.size() && port > 0 && port < 65536;
}

// HOST, HOST:PORT, [IPV6]:PORT or a bare IPv6 address.
std::expected<void, std::string> split_host_port(std::string_view text, ClientOptions* o) {
  if (text.starts_with("[")) {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return std::unexpected("no ] in " + std::string(text));
    o->host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (rest.empty()) return {};
    if (!rest.starts_with(":")) {
      return std::unexpected("expected :PORT after ] in " + std::string(text));
    }
    o->port = rest.substr(1);
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    size_t colon = text.find(':');
    o->host = text.substr(0, colon);
    o->port = text.substr(colon + 1);
  } else {
    o->host = text;
  }
  return {};
}

std::expected<ClientOptions, std::string> parse_options(int argc, char** argv) {
  ClientOptions o;
  o.tls.ktls = true;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::string_view value;
    if (arg == "--host" || arg == "--port" || arg == "--tls" || arg == "--cipher" ||
        arg == "--path") {
      if (i + 1 >= argc) return std::unexpected(std::string(arg) + " needs a value");
      value = argv[++i];
    }
    if (arg == "--help" || arg == "-h") {
      o.help = true;
    } else if (arg == "--host") {
      o.host = value;
    } else if (arg == "--port") {
      o.port = value;
    } else if (arg == "--tls") {
      auto version = parse_tls_version(value);
      if (!version) return std::unexpected("--tls is 1.2 or 1.3");
      o.tls.version = *version;
    } else if (arg == "--cipher") {
      o.tls.cipher = value;
    } else if (arg == "--path") {
      if (!value.starts_with("/")) return std::unexpected("--path starts with /");
      o.path = value;
    } else if (arg == "--verify") {
      o.verify = true;
    } else if (arg.starts_with("-")) {
      return std::unexpected("unknown option " + std::string(arg));
    } else if (!o.host.empty()) {
      return std::unexpected("one HOST only (" + std::string(arg) + ")");
    } else if (auto ok = split_host_port(arg, &o); !ok) {
      return std::unexpected(ok.error());
    }
  }
  if (!o.port.empty() && !valid_port(o.port)) return std::unexpected("bad port " + o.port);
  if (o.host.empty() && !o.port.empty()) return std::unexpected("--port needs a host");
  if (o.host.empty() && o.verify) {
    return std::unexpected("--verify needs a host: the test server's certificate is self-signed");
  }
  return o;
}

// "host:port", "[v6]:port".
std::string join_host_port(const std::string& host, const std::string& port) {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + port;
}

bool is_ip_literal(const std::string& host) {
  addrinfo hints{};
  hints.ai_flags = AI_NUMERICHOST;
  addrinfo* result = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &result) != 0) return false;
  freeaddrinfo(result);
  return true;
}

// An owned file descriptor.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    reset();
    fd_ = std::exchange(other.fd_, -1);
    return *this;
  }
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

struct Connection {
  Fd fd;
  std::string address;  // the numeric address connected to
};

// A TCP connection to host:port, trying each address it resolves to.
std::expected<Connection, std::string> connect_to(const std::string& host,
                                                  const std::string& port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* addresses = nullptr;
  if (int e = getaddrinfo(host.c_str(), port.c_str(), &hints, &addresses); e != 0) {
    return std::unexpected("cannot resolve " + host + ": " + gai_strerror(e));
  }
  std::string last_error = "no address";
  Connection c;
  for (addrinfo* a = addresses; a != nullptr && c.fd.get() < 0; a = a->ai_next) {
    Fd fd(socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol));
    if (fd.get() < 0) {
      last_error = strerror(errno);
      continue;
    }
    timeval timeout{.tv_sec = kIoTimeoutSeconds, .tv_usec = 0};
    setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));  // bounds connect()
    setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    if (connect(fd.get(), a->ai_addr, a->ai_addrlen) != 0) {
      last_error = errno == EINPROGRESS ? "timed out" : strerror(errno);
      continue;
    }
    char numeric[NI_MAXHOST];
    if (getnameinfo(a->ai_addr, a->ai_addrlen, numeric, sizeof(numeric), nullptr, 0,
                    NI_NUMERICHOST) == 0) {
      c.address = numeric;
    }
    c.fd = std::move(fd);
  }
  freeaddrinfo(addresses);
  if (c.fd.get() < 0) {
    return std::unexpected("cannot connect to " + join_host_port(host, port) + ": " + last_error);
  }
  return c;
}

using Rows = std::vector<std::pair<std::string, std::string>>;

// A box of "label  value" rows in plain ASCII (it must survive a serial
// console):
//   +-- kTLS status ----------+
//   | kTLS TX      active ... |
//   +-------------------------+
void print_box(std::ostream& out, const std::string& title, const Rows& rows) {
  size_t label_width = 0, value_width = title.size() + 2;
  for (const auto& [label, value] : rows) {
    label_width = std::max(label_width, label.size());
    value_width = std::max(value_width, value.size());
  }
  size_t inner = label_width + 2 + value_width;
  out << "+-- " << title << " " << std::string(inner - title.size() - 2, '-') << "+\n";
  for (const auto& [label, value] : rows) {
    out << "| " << label << std::string(label_width + 2 - label.size(), ' ') << value
        << std::string(value_width - value.size(), ' ') << " |\n";
  }
  out << "+" << std::string(inner + 2, '-') << "+\n";
}

std::string direction_text(bool active, bool tx) {
  if (tx) {
    return active ? "active: the kernel encrypts what is sent"
                  : "inactive: OpenSSL encrypts in user space";
  }
  return active ? "active: the kernel decrypts what is received"
                : "inactive: OpenSSL decrypts in user space";
}

// The module's session counters from /proc/net/tls_stat, or why there are none.
std::string kernel_text() {
  std::ifstream stat("/proc/net/tls_stat");
  if (!stat) return "no /proc/net/tls_stat: the tls module is not loaded";
  std::string name, tx = "?", rx = "?";
  for (std::string value; stat >> name >> value;) {
    if (name == "TlsCurrTxSw") tx = value;
    if (name == "TlsCurrRxSw") rx = value;
  }
  return "tls module loaded; sessions now: TlsCurrTxSw " + tx + ", TlsCurrRxSw " + rx;
}

// The test server's side of the session.
std::string test_server_text(KtlsTestServer& server) {
  auto result = server.handshake_result(std::chrono::seconds(kIoTimeoutSeconds));
  if (!result) return "no handshake within the timeout";
  if (!*result) return result->error();
  auto state = [](bool active) { return active ? "active" : "inactive"; };
  return std::string("kTLS TX ") + state((*result)->tx) + ", RX " + state((*result)->rx);
}

// What to look at when a direction stayed in user space, most likely first.
void print_hints(std::ostream& out, SSL* ssl, KtlsState state) {
  if (state.tx && state.rx) return;
  const char* which = !state.tx && !state.rx ? "kTLS is inactive in both directions"
                      : !state.tx            ? "kTLS TX (sending) is inactive"
                                             : "kTLS RX (receiving) is inactive";
  out << "\n" << which << ". What to check:\n";
  bool explained = false;
  if (!tls_module_loaded()) {
    out << "  - The kernel's tls module is not loaded (there is no /proc/net/tls_stat).\n"
           "    Load it with `sudo modprobe tls` and run again; the kernel loads it by itself\n"
           "    only for root. If modprobe finds no module, this kernel was built without\n"
           "    CONFIG_TLS and has no kTLS at all.\n";
    explained = true;
  }
  if (!kernel_offloads_cipher(ssl)) {
    out << "  - The cipher, " << SSL_get_cipher_name(ssl)
        << ", is not one OpenSSL hands to Linux kTLS. Try\n"
           "    --cipher AES128-GCM, AES256-GCM or CHACHA20-POLY1305 (ChaCha20 from Linux 5.11).\n";
    explained = true;
  }
  if (!state.rx && SSL_version(ssl) == TLS1_3_VERSION && !openssl_receives_tls13_with_ktls()) {
    out << "  - TLS 1.3 receive: OpenSSL " << OpenSSL_version(OPENSSL_VERSION_STRING)
        << " offloads only the sending side of a TLS 1.3\n"
           "    session (receive needs OpenSSL 3.2 or later). --tls 1.2 shows both directions.\n";
    explained = true;
  }
#ifdef OPENSSL_NO_KTLS
  out << "  - ktls_client was built against OpenSSL headers without kTLS (OPENSSL_NO_KTLS):\n"
         "    rebuild it against an OpenSSL configured with enable-ktls.\n";
  explained = true;
#endif
  if (!explained) {
    out << "  - The module is loaded and the cipher is one kTLS takes, yet OpenSSL kept the\n"
           "    keys: its libssl may be built without kTLS (no enable-ktls), or the kernel\n"
           "    refused them (its TlsTxSw/TlsRxSw counters in /proc/net/tls_stat did not grow;\n"
           "    see dmesg).\n";
  }
}

struct Reply {
  std::string bytes;
  std::string ending;  // how it ended: "the server closed", or the error after it
};

// Reads until the server closes. An error (a silence of kIoTimeoutSeconds
// among them) ends the reply if something came, and is the error otherwise.
std::expected<Reply, std::string> read_reply(SSL* ssl) {
  Reply reply;
  for (;;) {
    char buf[16384];
    size_t n = 0;
    int r = SSL_read_ex(ssl, buf, sizeof(buf), &n);
    if (r == 1) {
      reply.bytes.append(buf, n);
      continue;
    }
    if (SSL_get_error(ssl, r) == SSL_ERROR_ZERO_RETURN) {  // close_notify, or EOF (allowed)
      reply.ending = "until the server closed";
      return reply;
    }
    std::string why = take_openssl_errors();
    if (why.empty()) why = errno == EAGAIN ? "nothing more within the timeout" : strerror(errno);
    if (reply.bytes.empty()) return std::unexpected(why);
    reply.ending = "then " + why;
    return reply;
  }
}

// The TCP connection and the handshake; the error is one line.
std::expected<SslPtr, std::string> handshake(SSL_CTX* ctx, const Connection& connection,
                                             const std::string& host, const std::string& target,
                                             bool verify) {
  SslPtr ssl(SSL_new(ctx));
  if (!ssl || SSL_set_fd(ssl.get(), connection.fd.get()) != 1) {
    return std::unexpected("SSL_new: " + take_openssl_errors());
  }
  if (!is_ip_literal(host)) SSL_set_tlsext_host_name(ssl.get(), host.c_str());
  if (verify) SSL_set1_host(ssl.get(), host.c_str());
  if (SSL_connect(ssl.get()) == 1) return ssl;
  std::string why = take_openssl_errors();
  if (long v = SSL_get_verify_result(ssl.get()); verify && v != X509_V_OK) {
    why = std::string("certificate: ") + X509_verify_cert_error_string(v);
  }
  if (why.empty()) why = "the server closed the connection";
  return std::unexpected("TLS handshake with " + target + " failed: " + why);
}

// The box's rows. server: ktls_client's own test server, or null.
Rows status_rows(SSL* ssl, const std::string& target, const Connection& connection,
                 KtlsTestServer* server, const ClientOptions& o) {
  const KtlsState state = ktls_state(ssl);
  Rows rows;
  if (server) {
    rows.emplace_back("server", target + " (ktls_client's own test server)");
  } else if (connection.address.empty() || connection.address == o.host) {
    rows.emplace_back("server", target);
  } else {
    rows.emplace_back("server", target + " (" + connection.address + ")");
  }
  rows.emplace_back("TLS version", SSL_get_version(ssl));
  rows.emplace_back("cipher", SSL_get_cipher_name(ssl));
  rows.emplace_back("kTLS TX", direction_text(state.tx, true));
  rows.emplace_back("kTLS RX", direction_text(state.rx, false));
  if (server) {
    rows.emplace_back("certificate", "the test server's own, self-signed; not checked");
    rows.emplace_back("test server", test_server_text(*server));
  } else if (o.verify) {
    rows.emplace_back("certificate", "verified for " + o.host + " against the system CAs");
  } else {
    rows.emplace_back("certificate", "not checked (a demo; --verify checks it)");
  }
  rows.emplace_back("kernel", kernel_text());
  rows.emplace_back("OpenSSL", OpenSSL_version(OPENSSL_VERSION));
  return rows;
}

int fail(const std::string& what, int status = 1) {
  std::cerr << "ktls_client: " << what << "\n";
  return status;
}

int run(const ClientOptions& o) {
  std::unique_ptr<KtlsTestServer> server;  // outlives the connection: see ~KtlsTestServer
  std::string host = o.host, port = o.port.empty() ? "443" : o.port;
  if (host.empty()) {
    auto started = KtlsTestServer::start();
    if (!started) return fail("cannot start the test server: " + started.error());
    server = std::move(*started);
    host = "127.0.0.1";
    port = std::to_string(server->port());
  }
  const std::string target = join_host_port(host, port);

  auto ctx = make_context(TLS_client_method(), o.tls);
  if (!ctx) return fail(ctx.error(), 2);  // --tls and --cipher
  SSL_CTX_set_options(ctx->get(), SSL_OP_IGNORE_UNEXPECTED_EOF);
  if (o.verify) {
    SSL_CTX_set_verify(ctx->get(), SSL_VERIFY_PEER, nullptr);
    if (SSL_CTX_set_default_verify_paths(ctx->get()) != 1) {
      return fail("cannot load the system CAs: " + take_openssl_errors());
    }
  }
  auto connection = connect_to(host, port);
  if (!connection) return fail(connection.error());
  auto ssl = handshake(ctx->get(), *connection, host, target, o.verify);
  if (!ssl) return fail(ssl.error());

  print_box(std::cout, "kTLS status",
            status_rows(ssl->get(), target, *connection, server.get(), o));
  print_hints(std::cout, ssl->get(), ktls_state(ssl->get()));

  const std::string host_header = o.port.empty() && !server ? host : target;
  const std::string request = "GET " + o.path + " HTTP/1.1\r\nHost: " + host_header +
                              "\r\nUser-Agent: ktls_client\r\nConnection: close\r\n\r\n";
  size_t written = 0;
  if (SSL_write_ex(ssl->get(), request.data(), request.size(), &written) != 1) {
    return fail("cannot send the GET to " + target + ": " + take_openssl_errors());
  }
  auto reply = read_reply(ssl->get());
  if (!reply) return fail("no reply from " + target + ": " + reply.error());
  std::cout << "\nsent GET " << o.path << " (" << request.size() << " bytes, one SSL_write); "
            << "received " << reply->bytes.size() << " bytes (SSL_read, " << reply->ending << "):\n"
            << reply->bytes << (reply->bytes.ends_with('\n') ? "" : "\n");
  SSL_shutdown(ssl->get());
  connection->fd.reset();
  if (server) {
    if (std::string error = server->finish(); !error.empty()) fail(error);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  auto options = parse_options(argc, argv);
  if (!options) {
    std::cerr << "ktls_client: " << options.error() << " (--help explains)\n";
    return 2;
  }
  if (options->help) {
    std::cout << kUsage;
    return 0;
  }
  signal(SIGPIPE, SIG_IGN);  // a peer gone away is an error return, not the end
  return run(*options);
}
