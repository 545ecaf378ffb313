#include "tools/ktls_test_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tlstap::tools {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;

// A request head larger than this is not an HTTP GET from ktls_client.
constexpr size_t kMaxRequestHead = 64 * 1024;
// Neither side of the test connection waits longer than this for the other.
constexpr int kIoTimeoutSeconds = 10;
// Every TLS 1.3 suite OpenSSL 3 has; the CCM ones are off by default.
constexpr char kAllTls13Suites[] =
    "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:"
    "TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256";

std::string errno_text(const char* what) { return std::string(what) + ": " + strerror(errno); }

// A certificate for CN=localhost signed by its own key, valid for a day.
std::expected<X509Ptr, std::string> make_certificate(EVP_PKEY* key) {
  X509Ptr cert(X509_new());
  if (!cert) return std::unexpected("X509_new: " + take_openssl_errors());
  X509_set_version(cert.get(), X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  if (X509_set_pubkey(cert.get(), key) != 1 || X509_sign(cert.get(), key, EVP_sha256()) == 0) {
    return std::unexpected("cannot sign the test certificate: " + take_openssl_errors());
  }
  return cert;
}

void set_io_timeouts(int fd) {
  timeval timeout{.tv_sec = kIoTimeoutSeconds, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
}

}  // namespace

std::expected<std::unique_ptr<KtlsTestServer>, std::string> KtlsTestServer::start() {
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return std::unexpected("cannot make a P-256 key: " + take_openssl_errors());
  auto cert = make_certificate(key.get());
  if (!cert) return std::unexpected(cert.error());
  TlsSettings settings;
  settings.ktls = true;
  auto ctx = make_context(TLS_server_method(), settings);
  if (!ctx) return std::unexpected(ctx.error());
  // Whatever the client restricts itself to (--cipher) must be on offer.
  if (SSL_CTX_set_cipher_list(ctx->get(), "ALL") != 1 ||
      SSL_CTX_set_ciphersuites(ctx->get(), kAllTls13Suites) != 1) {
    return std::unexpected("cannot offer every cipher: " + take_openssl_errors());
  }
  if (SSL_CTX_use_certificate(ctx->get(), cert->get()) != 1 ||
      SSL_CTX_use_PrivateKey(ctx->get(), key.get()) != 1) {
    return std::unexpected("cannot use the test certificate: " + take_openssl_errors());
  }

  int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener < 0) return std::unexpected(errno_text("socket"));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(listener, 1) != 0 ||
      getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::string error = errno_text("test server on 127.0.0.1");
    close(listener);
    return std::unexpected(error);
  }
  std::unique_ptr<KtlsTestServer> server(
      new KtlsTestServer(std::move(*ctx), listener, ntohs(addr.sin_port)));
  server->thread_ = std::thread([s = server.get()] { s->serve(); });
  return server;
}

KtlsTestServer::KtlsTestServer(SslCtxPtr ctx, int listener, int port)
    : ctx_(std::move(ctx)),
      listener_(listener),
      port_(port),
      handshake_(handshake_promise_.get_future().share()) {}

KtlsTestServer::~KtlsTestServer() {
  // Wakes an accept() that no client will answer; a connection already
  // accepted ends when the client closes its end, or at the I/O timeout.
  shutdown(listener_, SHUT_RDWR);
  finish();
  close(listener_);
}

std::optional<std::expected<KtlsState, std::string>> KtlsTestServer::handshake_result(
    std::chrono::milliseconds timeout) {
  if (handshake_.wait_for(timeout) != std::future_status::ready) return std::nullopt;
  return handshake_.get();
}

std::string KtlsTestServer::finish() {
  if (thread_.joinable()) thread_.join();
  return error_;
}

void KtlsTestServer::serve() {
  int fd = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) {
    error_ = errno_text("test server: accept");
    handshake_promise_.set_value(std::unexpected(error_));
    return;
  }
  set_io_timeouts(fd);
  if (auto served = serve_connection(fd); !served) error_ = "test server: " + served.error();
  close(fd);
}

std::expected<void, std::string> KtlsTestServer::serve_connection(int fd) {
  SslPtr ssl(SSL_new(ctx_.get()));
  if (!ssl || SSL_set_fd(ssl.get(), fd) != 1) {
    std::string error = "SSL_new: " + take_openssl_errors();
    handshake_promise_.set_value(std::unexpected(error));
    return std::unexpected(error);
  }
  if (SSL_accept(ssl.get()) != 1) {
    std::string error = "TLS handshake failed: " + take_openssl_errors();
    handshake_promise_.set_value(std::unexpected(error));
    return std::unexpected(error);
  }
  handshake_promise_.set_value(ktls_state(ssl.get()));

  std::string request;
  while (request.find("\r\n\r\n") == std::string::npos) {
    if (request.size() > kMaxRequestHead) return std::unexpected("the request head is too long");
    char buf[4096];
    size_t n = 0;
    if (SSL_read_ex(ssl.get(), buf, sizeof(buf), &n) != 1) {
      return std::unexpected("no complete HTTP request arrived: " + take_openssl_errors());
    }
    request.append(buf, n);
  }
  std::string body = kTestServerBody;
  std::string reply = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  size_t written = 0;
  if (SSL_write_ex(ssl.get(), reply.data(), reply.size(), &written) != 1) {
    return std::unexpected("cannot send the reply: " + take_openssl_errors());
  }
  SSL_shutdown(ssl.get());  // close_notify; the client's is not awaited
  return {};
}

}  // namespace tlstap::tools
