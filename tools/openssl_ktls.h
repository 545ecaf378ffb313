// OpenSSL set-up shared by the kTLS demo client (tools/ktls_client.cc) and
// the kTLS test peer (tests/progs/ktls_peer.cc): owned OpenSSL objects, the
// --tls and --cipher options, kTLS switched on, and afterwards the facts
// that say whether the kernel took the session over and, if not, why.
//
// How OpenSSL 3 does kTLS on Linux: with SSL_OP_ENABLE_KTLS and a socket
// BIO, once a direction's traffic keys are ready it calls
// setsockopt(TCP_ULP, "tls") and setsockopt(SOL_TLS, TLS_TX or TLS_RX) on
// the socket. When the kernel refuses (no tls module, a cipher it does not
// know) OpenSSL carries on in user space without a word: only
// BIO_get_ktls_send/BIO_get_ktls_recv tell.
#pragma once

#include <openssl/ssl.h>

#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace tlstap::tools {

struct SslCtxFree {
  void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
};
struct SslFree {
  void operator()(SSL* p) const { SSL_free(p); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;
using SslPtr = std::unique_ptr<SSL, SslFree>;

// OpenSSL's error queue, oldest first, as one line ("" when empty); empties it.
std::string take_openssl_errors();

enum class TlsVersion { kAny, kTls12, kTls13 };
// "1.2" or "1.3".
std::optional<TlsVersion> parse_tls_version(std::string_view text);

struct TlsSettings {
  TlsVersion version = TlsVersion::kAny;
  // Empty: OpenSSL's defaults. AES128-GCM, AES256-GCM, CHACHA20-POLY1305:
  // the AEADs Linux kTLS offloads, as the ECDHE suites under TLS 1.2 and the
  // TLS_* suites under 1.3. Any other name goes to OpenSSL as it is: TLS_*
  // names as TLS 1.3 suites, others as a TLS 1.2 cipher list.
  std::string cipher;
  bool ktls = false;  // SSL_OP_ENABLE_KTLS
};

// The short --cipher names, for usage texts.
inline constexpr char kCipherNames[] = "AES128-GCM, AES256-GCM, CHACHA20-POLY1305";

// A context for method (TLS_client_method(), TLS_server_method()) set up as
// settings say. The error is one line.
std::expected<SslCtxPtr, std::string> make_context(const SSL_METHOD* method,
                                                   const TlsSettings& settings);

struct KtlsState {
  bool tx = false;  // the kernel encrypts what is sent
  bool rx = false;  // the kernel decrypts what is received
};
// Read once the handshake is over.
KtlsState ktls_state(SSL* ssl);

// The facts behind an inactive direction.
//
// The tls module is loaded in this network namespace (/proc/net/tls_stat
// exists). The kernel loads it on its own only for a caller with
// CAP_NET_ADMIN; anyone else needs `modprobe tls` first.
bool tls_module_loaded();
// The session's cipher is one OpenSSL 3 hands to Linux kTLS: AES-128-GCM,
// AES-256-GCM, ChaCha20-Poly1305 (Linux 5.11 on), AES-128-CCM (TLS 1.2 only).
bool kernel_offloads_cipher(const SSL* ssl);
// The OpenSSL running here does kTLS receive under TLS 1.3: 3.2 and later.
// 3.0 and 3.1 offload only the sending direction of a TLS 1.3 session.
bool openssl_receives_tls13_with_ktls();

}  // namespace tlstap::tools
