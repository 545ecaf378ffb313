// gnutls_workload: bench/ssl_workload's ping-pong on GnuTLS, the GnuTLS
// workload of bench/run.py (--stack gnutls). Same flags, same output lines.
//
// A client and a server session live in one thread on the two ends of a
// socketpair(AF_UNIX, SOCK_STREAM), with a self-signed P-256 certificate made
// in memory. Each iteration the client sends one message of --size bytes
// (gnutls_record_send), the server receives it (gnutls_record_recv) and sends
// it back, and the client receives it. "ssl_calls" counts every
// gnutls_record_send/recv call made in the timed loop, the probe hits per
// function. --api takes only "plain" (GnuTLS has no _ex forms).
//
// Output (stdout, one JSON object per line):
//   with --wait-stdin:  {"ready":<pid>}  after the handshake, then it waits
//                       for a newline (or EOF) on stdin before the timed loop;
//   always, at the end: {"size":..,"count":..,"seconds":..,"bytes_written":..,
//                        "bytes_read":..,"ssl_calls":..,"pid":..}

#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <vector>

namespace {

struct Options {
  size_t size = 64;
  uint64_t count = 10000;
  std::string tls = "1.3";
  bool wait_stdin = false;
};

[[noreturn]] void Usage(const char* why) {
  std::fprintf(stderr,
               "gnutls_workload: %s\n"
               "usage: gnutls_workload [--size BYTES] [--count N] [--api plain] [--tls 1.2|1.3]"
               " [--wait-stdin]\n",
               why);
  std::exit(2);
}

// A GnuTLS call that returned the error code `ret`.
void Check(int ret, const char* what) {
  if (ret < 0) throw std::runtime_error(std::string(what) + ": " + gnutls_strerror(ret));
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
      if (std::string_view(value()) != "plain") Usage("--api is plain (GnuTLS has no _ex forms)");
    } else if (arg == "--tls") {
      o.tls = value();
      if (o.tls != "1.2" && o.tls != "1.3") Usage("--tls is 1.2 or 1.3");
    } else if (arg == "--wait-stdin") {
      o.wait_stdin = true;
    } else {
      Usage(("unknown argument " + std::string(arg)).c_str());
    }
  }
  return o;
}

// Owners of GnuTLS's handle types (each a pointer to an opaque struct).
template <typename Handle, void (*Free)(Handle)>
struct HandleFree {
  void operator()(Handle h) const { Free(h); }
};
template <typename Handle, void (*Free)(Handle)>
using Owned = std::unique_ptr<std::remove_pointer_t<Handle>, HandleFree<Handle, Free>>;
using PrivkeyPtr = Owned<gnutls_x509_privkey_t, gnutls_x509_privkey_deinit>;
using CrtPtr = Owned<gnutls_x509_crt_t, gnutls_x509_crt_deinit>;
using CredentialsPtr = Owned<gnutls_certificate_credentials_t, gnutls_certificate_free_credentials>;
using SessionPtr = Owned<gnutls_session_t, gnutls_deinit>;

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

PrivkeyPtr MakeKey() {
  gnutls_x509_privkey_t key = nullptr;
  Check(gnutls_x509_privkey_init(&key), "gnutls_x509_privkey_init");
  PrivkeyPtr owned(key);
  Check(gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
                                     GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0),
        "gnutls_x509_privkey_generate");
  return owned;
}

// A self-signed certificate, built in memory so the benchmark needs no files.
CrtPtr MakeCertificate(gnutls_x509_privkey_t key) {
  gnutls_x509_crt_t crt = nullptr;
  Check(gnutls_x509_crt_init(&crt), "gnutls_x509_crt_init");
  CrtPtr owned(crt);
  const unsigned char serial = 1;
  time_t now = std::time(nullptr);
  Check(gnutls_x509_crt_set_version(crt, 3), "gnutls_x509_crt_set_version");
  Check(gnutls_x509_crt_set_serial(crt, &serial, sizeof(serial)), "gnutls_x509_crt_set_serial");
  Check(gnutls_x509_crt_set_activation_time(crt, now - 3600), "set_activation_time");
  Check(gnutls_x509_crt_set_expiration_time(crt, now + 24 * 3600), "set_expiration_time");
  Check(gnutls_x509_crt_set_dn(crt, "CN=tlstap-bench", nullptr), "gnutls_x509_crt_set_dn");
  Check(gnutls_x509_crt_set_key(crt, key), "gnutls_x509_crt_set_key");
  Check(gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0), "gnutls_x509_crt_sign2");
  return owned;
}

SessionPtr MakeSession(unsigned flags, gnutls_certificate_credentials_t cred,
                       const std::string& tls, int fd) {
  gnutls_session_t session = nullptr;
  Check(gnutls_init(&session, flags), "gnutls_init");
  SessionPtr owned(session);
  std::string priority = "NORMAL:-VERS-ALL:+VERS-TLS" + tls;
  Check(gnutls_priority_set_direct(session, priority.c_str(), nullptr),
        "gnutls_priority_set_direct");
  Check(gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, cred), "gnutls_credentials_set");
  gnutls_transport_set_int(session, fd);
  return owned;
}

void SetNonBlocking(int fd, bool on) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK) < 0) {
    throw std::runtime_error(std::string("fcntl: ") + std::strerror(errno));
  }
}

// Drives both ends of the handshake from one thread: each side runs until it
// would block on the other, then the other side gets its turn.
void Handshake(gnutls_session_t client, gnutls_session_t server) {
  bool client_done = false;
  bool server_done = false;
  for (int round = 0; !(client_done && server_done); ++round) {
    if (round > 1000) throw std::runtime_error("handshake does not finish");
    for (auto [session, done, who] : {std::tuple{client, &client_done, "client handshake"},
                                      std::tuple{server, &server_done, "server handshake"}}) {
      if (*done) continue;
      int r = gnutls_handshake(session);
      if (r == GNUTLS_E_SUCCESS) {
        *done = true;
      } else if (gnutls_error_is_fatal(r)) {
        Check(r, who);
      }
    }
  }
}

struct Counters {
  uint64_t bytes_written = 0;
  uint64_t bytes_read = 0;
  uint64_t ssl_calls = 0;
};

bool Retry(ssize_t r) { return r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED; }

// Sends the whole message (blocking: normally one call).
void WriteAll(gnutls_session_t session, const unsigned char* buf, size_t len, Counters* c) {
  size_t done = 0;
  while (done < len) {
    ++c->ssl_calls;
    ssize_t r = gnutls_record_send(session, buf + done, len - done);
    if (Retry(r)) continue;
    if (r <= 0) Check(r == 0 ? GNUTLS_E_INTERNAL_ERROR : static_cast<int>(r), "gnutls_record_send");
    done += static_cast<size_t>(r);
    c->bytes_written += static_cast<size_t>(r);
  }
}

// Receives until len bytes arrived; a 16 KiB message is one TLS record, so
// normally one call.
void ReadAll(gnutls_session_t session, unsigned char* buf, size_t len, Counters* c) {
  size_t done = 0;
  while (done < len) {
    ++c->ssl_calls;
    ssize_t r = gnutls_record_recv(session, buf + done, len - done);
    if (Retry(r)) continue;
    if (r == 0) throw std::runtime_error("gnutls_record_recv: the peer closed");
    if (r < 0) Check(static_cast<int>(r), "gnutls_record_recv");
    done += static_cast<size_t>(r);
    c->bytes_read += static_cast<size_t>(r);
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
  Check(gnutls_global_init(), "gnutls_global_init");
  PrivkeyPtr key = MakeKey();
  CrtPtr cert = MakeCertificate(key.get());

  gnutls_certificate_credentials_t cred = nullptr;
  Check(gnutls_certificate_allocate_credentials(&cred), "allocate server credentials");
  CredentialsPtr server_cred(cred);
  gnutls_x509_crt_t chain[] = {cert.get()};
  Check(gnutls_certificate_set_x509_key(cred, chain, 1, key.get()),
        "gnutls_certificate_set_x509_key");
  // The client verifies nothing: it never calls gnutls_certificate_verify_peers.
  Check(gnutls_certificate_allocate_credentials(&cred), "allocate client credentials");
  CredentialsPtr client_cred(cred);

  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
    throw std::runtime_error(std::string("socketpair: ") + std::strerror(errno));
  }
  Fd client_fd(fds[0]);
  Fd server_fd(fds[1]);

  SessionPtr client = MakeSession(GNUTLS_CLIENT, client_cred.get(), o.tls, client_fd.get());
  SessionPtr server = MakeSession(GNUTLS_SERVER, server_cred.get(), o.tls, server_fd.get());

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
    WriteAll(client.get(), message.data(), message.size(), &c);
    ReadAll(server.get(), server_buf.data(), server_buf.size(), &c);
    WriteAll(server.get(), server_buf.data(), server_buf.size(), &c);
    ReadAll(client.get(), client_buf.data(), client_buf.size(), &c);
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
    std::fprintf(stderr, "gnutls_workload: %s\n", e.what());
    return 1;
  }
}
