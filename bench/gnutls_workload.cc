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
// Command line and output lines: bench/workload.h.

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "bench/workload.h"

namespace {

using namespace tlstap::bench;

// A GnuTLS call that returned the error code `ret`.
void Check(int ret, const char* what) {
  if (ret < 0) throw std::runtime_error(std::string(what) + ": " + gnutls_strerror(ret));
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

void Run(const WorkloadOptions& o) {
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

  auto [client_sock, server_sock] = SocketPair();
  Fd client_fd(client_sock);
  Fd server_fd(server_sock);

  SessionPtr client =
      MakeSession(GNUTLS_CLIENT, client_cred.get(), o.tls12 ? "1.2" : "1.3", client_fd.get());
  SessionPtr server =
      MakeSession(GNUTLS_SERVER, server_cred.get(), o.tls12 ? "1.2" : "1.3", server_fd.get());

  SetNonBlocking(client_fd.get(), true);
  SetNonBlocking(server_fd.get(), true);
  // A step is done at success; GNUTLS_E_AGAIN and other non-fatal codes
  // wait for the other side.
  auto step = [](gnutls_session_t session, const char* what) {
    int r = gnutls_handshake(session);
    if (r == GNUTLS_E_SUCCESS) return true;
    if (gnutls_error_is_fatal(r)) Check(r, what);
    return false;
  };
  Handshake([&] { return step(client.get(), "client handshake"); },
            [&] { return step(server.get(), "server handshake"); });
  SetNonBlocking(client_fd.get(), false);
  SetNonBlocking(server_fd.get(), false);

  auto session = [&](Side side) { return side == Side::kClient ? client.get() : server.get(); };
  RunRoundTrips(
      o,
      [&](Side side, const unsigned char* buf, size_t len, Counters* c) {
        WriteAll(session(side), buf, len, c);
      },
      [&](Side side, unsigned char* buf, size_t len, Counters* c) {
        ReadAll(session(side), buf, len, c);
      });
}

}  // namespace

int main(int argc, char** argv) {
  WorkloadOptions o = ParseWorkloadOptions(argc, argv, "gnutls_workload", false);
  return WorkloadMain("gnutls_workload", [&o] { Run(o); });
}
