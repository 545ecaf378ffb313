// ssl_workload: an in-process OpenSSL ping-pong over a socketpair, the
// workload of bench/run.py.
//
// A client and a server SSL live in one thread on the two ends of a
// socketpair(AF_UNIX, SOCK_STREAM). Each iteration the client writes one
// message of --size bytes, the server reads it, writes it back, and the client
// reads it. The kernel's socket buffers hold a 16 KiB record with room to
// spare, so blocking calls never wait on each other.
//
// Output (stdout, one JSON object per line):
//   with --wait-stdin:  {"ready":<pid>}  after the handshake, then it waits
//                       for a newline (or EOF) on stdin before the timed loop;
//   always, at the end: {"size":..,"count":..,"seconds":..,"bytes_written":..,
//                        "bytes_read":..,"ssl_calls":..,"pid":..}
// "seconds" covers the loop only; "ssl_calls" counts every SSL_write/SSL_read
// (or _ex) call made in it, i.e. the probe hits a tracer sees per function.
//
// The same source builds boringssl_workload (run.py --stack boringssl)
// against Debian's android-libboringssl; there --api takes only "plain"
// (that BoringSSL has no SSL_write_ex/SSL_read_ex).

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

struct Options {
  size_t size = 64;
  uint64_t count = 10000;
  bool ex_api = false;
  int tls_version = TLS1_3_VERSION;
  bool wait_stdin = false;
};

#ifdef OPENSSL_IS_BORINGSSL
constexpr char kName[] = "boringssl_workload";
constexpr char kApis[] = "plain";
#else
constexpr char kName[] = "ssl_workload";
constexpr char kApis[] = "plain|ex";
#endif

[[noreturn]] void Usage(const char* why) {
  std::fprintf(stderr,
               "%s: %s\n"
               "usage: %s [--size BYTES] [--count N] [--api %s] [--tls 1.2|1.3] [--wait-stdin]\n",
               kName, why, kName, kApis);
  std::exit(2);
}

// One fatal error: the OpenSSL error queue, if any, explains it.
[[noreturn]] void Fail(const std::string& what) {
  std::string detail;
  if (unsigned long e = ERR_get_error(); e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    detail = std::string(": ") + buf;
  }
  throw std::runtime_error(what + detail);
}

uint64_t ParseNumber(const char* flag, const char* text) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v == 0) {
    Usage((std::string(flag) + " wants a positive integer").c_str());
  }
  return v;
}

Options ParseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) Usage((std::string(arg) + " needs a value").c_str());
      return argv[++i];
    };
    if (arg == "--size") {
      o.size = ParseNumber("--size", value());
    } else if (arg == "--count") {
      o.count = ParseNumber("--count", value());
    } else if (arg == "--api") {
      std::string_view v = value();
#ifdef OPENSSL_IS_BORINGSSL
      if (v != "plain") Usage("--api is plain (this BoringSSL has no _ex functions)");
#else
      if (v != "plain" && v != "ex") Usage("--api is plain or ex");
#endif
      o.ex_api = v == "ex";
    } else if (arg == "--tls") {
      std::string_view v = value();
      if (v == "1.2") {
        o.tls_version = TLS1_2_VERSION;
      } else if (v == "1.3") {
        o.tls_version = TLS1_3_VERSION;
      } else {
        Usage("--tls is 1.2 or 1.3");
      }
    } else if (arg == "--wait-stdin") {
      o.wait_stdin = true;
    } else {
      Usage(("unknown argument " + std::string(arg)).c_str());
    }
  }
  return o;
}

struct SslCtxFree {
  void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
};
struct SslFree {
  void operator()(SSL* p) const { SSL_free(p); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;
using SslPtr = std::unique_ptr<SSL, SslFree>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};

// A P-256 key, by the EVP calls OpenSSL 3 and BoringSSL share.
PkeyPtr MakeKey() {
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_EC, nullptr));
  EVP_PKEY* key = nullptr;
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx.get(), NID_X9_62_prime256v1) != 1 ||
      EVP_PKEY_keygen(ctx.get(), &key) != 1) {
    Fail("P-256 key generation");
  }
  return PkeyPtr(key);
}

// A self-signed P-256 certificate, built in memory so the benchmark needs no
// files.
X509Ptr MakeCertificate(EVP_PKEY* key) {
  X509Ptr cert(X509_new());
  if (!cert) Fail("X509_new");
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("tlstap-bench"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  if (X509_set_pubkey(cert.get(), key) != 1) Fail("X509_set_pubkey");
  if (X509_sign(cert.get(), key, EVP_sha256()) == 0) Fail("X509_sign");
  return cert;
}

SslCtxPtr MakeContext(const SSL_METHOD* method, int tls_version) {
  SslCtxPtr ctx(SSL_CTX_new(method));
  if (!ctx) Fail("SSL_CTX_new");
  if (SSL_CTX_set_min_proto_version(ctx.get(), tls_version) != 1 ||
      SSL_CTX_set_max_proto_version(ctx.get(), tls_version) != 1) {
    Fail("SSL_CTX_set_{min,max}_proto_version");
  }
  return ctx;
}

void SetNonBlocking(int fd, bool on) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK) < 0) {
    throw std::runtime_error(std::string("fcntl: ") + std::strerror(errno));
  }
}

// Drives both ends of the handshake from one thread: each side runs until it
// would block on the other, then the other side gets its turn.
void Handshake(SSL* client, SSL* server) {
  bool client_done = false;
  bool server_done = false;
  for (int round = 0; !(client_done && server_done); ++round) {
    if (round > 1000) throw std::runtime_error("handshake does not finish");
    if (!client_done) {
      int r = SSL_connect(client);
      if (r == 1) {
        client_done = true;
      } else if (int e = SSL_get_error(client, r);
                 e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
        Fail("SSL_connect");
      }
    }
    if (!server_done) {
      int r = SSL_accept(server);
      if (r == 1) {
        server_done = true;
      } else if (int e = SSL_get_error(server, r);
                 e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
        Fail("SSL_accept");
      }
    }
  }
}

struct Counters {
  uint64_t bytes_written = 0;
  uint64_t bytes_read = 0;
  uint64_t ssl_calls = 0;
};

// Writes the whole message (blocking mode without partial writes: one call).
void WriteAll(SSL* ssl, const unsigned char* buf, size_t len, bool ex_api, Counters* c) {
  size_t done = 0;
  while (done < len) {
    size_t n = 0;
    int r = 0;
    ++c->ssl_calls;
    if (ex_api) {
#ifndef OPENSSL_IS_BORINGSSL
      r = SSL_write_ex(ssl, buf + done, len - done, &n);
#endif
    } else {
      r = SSL_write(ssl, buf + done, static_cast<int>(len - done));
      n = r > 0 ? static_cast<size_t>(r) : 0;
    }
    if (r <= 0) Fail("SSL_write");
    done += n;
    c->bytes_written += n;
  }
}

// Reads until len bytes arrived; a 16 KiB message is one TLS record, so
// normally one call.
void ReadAll(SSL* ssl, unsigned char* buf, size_t len, bool ex_api, Counters* c) {
  size_t done = 0;
  while (done < len) {
    size_t n = 0;
    int r = 0;
    ++c->ssl_calls;
    if (ex_api) {
#ifndef OPENSSL_IS_BORINGSSL
      r = SSL_read_ex(ssl, buf + done, len - done, &n);
#endif
    } else {
      r = SSL_read(ssl, buf + done, static_cast<int>(len - done));
      n = r > 0 ? static_cast<size_t>(r) : 0;
    }
    if (r <= 0) Fail("SSL_read");
    done += n;
    c->bytes_read += n;
  }
}

// Blocks until the driver writes a newline (or closes stdin).
void WaitForStdin() {
  for (;;) {
    char ch;
    ssize_t n = read(STDIN_FILENO, &ch, 1);
    if (n == 0 || (n == 1 && ch == '\n')) return;
    if (n < 0 && errno != EINTR) {
      throw std::runtime_error(std::string("read stdin: ") + std::strerror(errno));
    }
  }
}

int Run(const Options& o) {
  PkeyPtr key = MakeKey();
  X509Ptr cert = MakeCertificate(key.get());

  SslCtxPtr server_ctx = MakeContext(TLS_server_method(), o.tls_version);
  if (SSL_CTX_use_certificate(server_ctx.get(), cert.get()) != 1 ||
      SSL_CTX_use_PrivateKey(server_ctx.get(), key.get()) != 1) {
    Fail("SSL_CTX_use_certificate/PrivateKey");
  }
  SslCtxPtr client_ctx = MakeContext(TLS_client_method(), o.tls_version);
  SSL_CTX_set_verify(client_ctx.get(), SSL_VERIFY_NONE, nullptr);

  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
    throw std::runtime_error(std::string("socketpair: ") + std::strerror(errno));
  }
  Fd client_fd(fds[0]);
  Fd server_fd(fds[1]);

  SslPtr client(SSL_new(client_ctx.get()));
  SslPtr server(SSL_new(server_ctx.get()));
  if (!client || !server) Fail("SSL_new");
  if (SSL_set_fd(client.get(), client_fd.get()) != 1 ||
      SSL_set_fd(server.get(), server_fd.get()) != 1) {
    Fail("SSL_set_fd");
  }

  SetNonBlocking(client_fd.get(), true);
  SetNonBlocking(server_fd.get(), true);
  Handshake(client.get(), server.get());
  SetNonBlocking(client_fd.get(), false);
  SetNonBlocking(server_fd.get(), false);

  std::vector<unsigned char> message(o.size);
  for (size_t i = 0; i < message.size(); ++i) message[i] = static_cast<unsigned char>('a' + i % 26);
  std::vector<unsigned char> server_buf(o.size);
  std::vector<unsigned char> client_buf(o.size);

  if (o.wait_stdin) {
    std::printf("{\"ready\":%d}\n", getpid());
    std::fflush(stdout);
    WaitForStdin();
  }

  Counters c;
  auto start = std::chrono::steady_clock::now();
  for (uint64_t i = 0; i < o.count; ++i) {
    WriteAll(client.get(), message.data(), message.size(), o.ex_api, &c);
    ReadAll(server.get(), server_buf.data(), server_buf.size(), o.ex_api, &c);
    WriteAll(server.get(), server_buf.data(), server_buf.size(), o.ex_api, &c);
    ReadAll(client.get(), client_buf.data(), client_buf.size(), o.ex_api, &c);
  }
  std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;

  if (client_buf != message) throw std::runtime_error("echoed message differs from the sent one");

  std::printf(
      "{\"size\":%zu,\"count\":%llu,\"seconds\":%.6f,\"bytes_written\":%llu,\"bytes_read\":%llu,"
      "\"ssl_calls\":%llu,\"pid\":%d}\n",
      o.size, static_cast<unsigned long long>(o.count), elapsed.count(),
      static_cast<unsigned long long>(c.bytes_written),
      static_cast<unsigned long long>(c.bytes_read), static_cast<unsigned long long>(c.ssl_calls),
      getpid());
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = ParseOptions(argc, argv);
  try {
    return Run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", kName, e.what());
    return 1;
  }
}
