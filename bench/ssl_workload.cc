// ssl_workload: an in-process OpenSSL ping-pong over a socketpair, the
// workload of bench/run.py.
//
// A client and a server SSL live in one thread on the two ends of a
// socketpair(AF_UNIX, SOCK_STREAM). Each iteration the client writes one
// message of --size bytes, the server reads it, writes it back, and the client
// reads it. The kernel's socket buffers hold a 16 KiB record with room to
// spare, so blocking calls never wait on each other. Command line and output
// lines: bench/workload.h; "ssl_calls" counts SSL_write/SSL_read (or _ex).
//
// The same source builds boringssl_workload (run.py --stack boringssl)
// against Debian's android-libboringssl; there --api takes only "plain"
// (that BoringSSL has no SSL_write_ex/SSL_read_ex).

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/workload.h"

namespace {

using namespace tlstap::bench;

#ifdef OPENSSL_IS_BORINGSSL
constexpr char kName[] = "boringssl_workload";
constexpr bool kHasExApi = false;  // this BoringSSL has no SSL_write_ex/SSL_read_ex
#else
constexpr char kName[] = "ssl_workload";
constexpr bool kHasExApi = true;
#endif

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

// A client and a server SSL on the two ends of a connection, handshake done.
struct SslPair {
  Fd client_fd, server_fd;  // closed after the SSLs are freed
  SslPtr client, server;
};

void Connect(SSL_CTX* client_ctx, SSL_CTX* server_ctx, std::pair<int, int> fds, SslPair* p) {
  p->client_fd = Fd(fds.first);
  p->server_fd = Fd(fds.second);
  p->client.reset(SSL_new(client_ctx));
  p->server.reset(SSL_new(server_ctx));
  if (!p->client || !p->server) Fail("SSL_new");
  if (SSL_set_fd(p->client.get(), p->client_fd.get()) != 1 ||
      SSL_set_fd(p->server.get(), p->server_fd.get()) != 1) {
    Fail("SSL_set_fd");
  }
  SetNonBlocking(p->client_fd.get(), true);
  SetNonBlocking(p->server_fd.get(), true);
  // A step is done at 1; WANT_READ/WANT_WRITE wait for the other side.
  auto step = [](SSL* ssl, int (*call)(SSL*), const char* what) {
    int r = call(ssl);
    if (r == 1) return true;
    if (int e = SSL_get_error(ssl, r); e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
      Fail(what);
    }
    return false;
  };
  Handshake([&] { return step(p->client.get(), SSL_connect, "SSL_connect"); },
            [&] { return step(p->server.get(), SSL_accept, "SSL_accept"); });
  SetNonBlocking(p->client_fd.get(), false);
  SetNonBlocking(p->server_fd.get(), false);
}

// --new-connections: each round trip on a new loopback TCP connection with
// its own handshake; "seconds" covers connects, handshakes and closes.
void RunNewConnections(const WorkloadOptions& o, SSL_CTX* client_ctx, SSL_CTX* server_ctx) {
  Fd listener(LoopbackListener());
  const std::vector<unsigned char> message = Message(o.size);
  std::vector<unsigned char> server_buf(o.size), client_buf(o.size);
  if (o.wait_stdin) AnnounceReadyAndWait();
  Counters c;
  auto start = std::chrono::steady_clock::now();
  for (uint64_t i = 0; i < o.count; ++i) {
    SslPair p;
    Connect(client_ctx, server_ctx, LoopbackPair(listener.get()), &p);
    WriteAll(p.client.get(), message.data(), message.size(), o.ex_api, &c);
    ReadAll(p.server.get(), server_buf.data(), server_buf.size(), o.ex_api, &c);
    WriteAll(p.server.get(), server_buf.data(), server_buf.size(), o.ex_api, &c);
    ReadAll(p.client.get(), client_buf.data(), client_buf.size(), o.ex_api, &c);
  }
  std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  if (client_buf != message) throw std::runtime_error("echoed message differs from the sent one");
  PrintResult(o, elapsed.count(), c);
}

void Run(const WorkloadOptions& o) {
  const int tls_version = o.tls12 ? TLS1_2_VERSION : TLS1_3_VERSION;
  PkeyPtr key = MakeKey();
  X509Ptr cert = MakeCertificate(key.get());

  SslCtxPtr server_ctx = MakeContext(TLS_server_method(), tls_version);
  if (SSL_CTX_use_certificate(server_ctx.get(), cert.get()) != 1 ||
      SSL_CTX_use_PrivateKey(server_ctx.get(), key.get()) != 1) {
    Fail("SSL_CTX_use_certificate/PrivateKey");
  }
  SslCtxPtr client_ctx = MakeContext(TLS_client_method(), tls_version);
  SSL_CTX_set_verify(client_ctx.get(), SSL_VERIFY_NONE, nullptr);
  if (o.new_connections) {
    RunNewConnections(o, client_ctx.get(), server_ctx.get());
    return;
  }

  SslPair p;
  Connect(client_ctx.get(), server_ctx.get(), SocketPair(), &p);
  SSL* by_side[] = {p.client.get(), p.server.get()};
  auto ssl = [&by_side](Side side) { return by_side[side == Side::kServer]; };
  RunRoundTrips(
      o,
      [&](Side side, const unsigned char* buf, size_t len, Counters* c) {
        WriteAll(ssl(side), buf, len, o.ex_api, c);
      },
      [&](Side side, unsigned char* buf, size_t len, Counters* c) {
        ReadAll(ssl(side), buf, len, o.ex_api, c);
      });
}

}  // namespace

int main(int argc, char** argv) {
  WorkloadOptions o = ParseWorkloadOptions(argc, argv, kName, kHasExApi);
  return WorkloadMain(kName, [&o] { Run(o); });
}
