#include "tools/openssl_ktls.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <unistd.h>

#include <cstring>

namespace tlstap::tools {
namespace {

// A short --cipher name as a TLS 1.2 cipher list (ECDSA and RSA
// certificates) and as a TLS 1.3 suite.
struct CipherNames {
  const char* name;
  const char* tls12_list;
  const char* tls13_suite;
};

constexpr CipherNames kCiphers[] = {
    {"AES128-GCM", "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256",
     "TLS_AES_128_GCM_SHA256"},
    {"AES256-GCM", "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384",
     "TLS_AES_256_GCM_SHA384"},
    {"CHACHA20-POLY1305", "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305",
     "TLS_CHACHA20_POLY1305_SHA256"},
};

std::expected<void, std::string> set_version(SSL_CTX* ctx, TlsVersion version) {
  if (version == TlsVersion::kAny) {
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
      return std::unexpected("cannot set TLS 1.2 as the lowest version: " + take_openssl_errors());
    }
    return {};
  }
  int v = version == TlsVersion::kTls12 ? TLS1_2_VERSION : TLS1_3_VERSION;
  if (SSL_CTX_set_min_proto_version(ctx, v) != 1 || SSL_CTX_set_max_proto_version(ctx, v) != 1) {
    return std::unexpected("cannot set the TLS version: " + take_openssl_errors());
  }
  return {};
}

std::expected<void, std::string> set_cipher(SSL_CTX* ctx, TlsVersion version,
                                            const std::string& cipher) {
  if (cipher.empty()) return {};
  std::string tls12_list, tls13_suites;
  for (const CipherNames& c : kCiphers) {
    if (cipher == c.name) {
      tls12_list = c.tls12_list;
      tls13_suites = c.tls13_suite;
    }
  }
  if (tls12_list.empty()) {  // an OpenSSL name, passed through
    (cipher.starts_with("TLS_") ? tls13_suites : tls12_list) = cipher;
    if (version == TlsVersion::kTls12 && tls12_list.empty()) {
      return std::unexpected("--cipher " + cipher + " is a TLS 1.3 suite, and --tls is 1.2");
    }
    if (version == TlsVersion::kTls13 && tls13_suites.empty()) {
      return std::unexpected("--cipher " + cipher +
                             " is a TLS 1.2 cipher; under --tls 1.3 give a TLS_* suite or one of " +
                             kCipherNames);
    }
  }
  if (!tls12_list.empty() && version != TlsVersion::kTls13 &&
      SSL_CTX_set_cipher_list(ctx, tls12_list.c_str()) != 1) {
    take_openssl_errors();
    return std::unexpected("--cipher " + cipher + ": OpenSSL knows no TLS 1.2 cipher " +
                           tls12_list + " (short names: " + kCipherNames + ")");
  }
  if (!tls13_suites.empty() && version != TlsVersion::kTls12 &&
      SSL_CTX_set_ciphersuites(ctx, tls13_suites.c_str()) != 1) {
    take_openssl_errors();
    return std::unexpected("--cipher " + cipher + ": OpenSSL knows no TLS 1.3 suite " +
                           tls13_suites + " (short names: " + kCipherNames + ")");
  }
  return {};
}

}  // namespace

std::string take_openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    out += (out.empty() ? "" : "; ") + std::string(buf);
  }
  return out;
}

std::optional<TlsVersion> parse_tls_version(std::string_view text) {
  if (text == "1.2") return TlsVersion::kTls12;
  if (text == "1.3") return TlsVersion::kTls13;
  return std::nullopt;
}

std::expected<SslCtxPtr, std::string> make_context(const SSL_METHOD* method,
                                                   const TlsSettings& settings) {
  SslCtxPtr ctx(SSL_CTX_new(method));
  if (!ctx) return std::unexpected("SSL_CTX_new: " + take_openssl_errors());
  if (auto ok = set_version(ctx.get(), settings.version); !ok) return std::unexpected(ok.error());
  if (auto ok = set_cipher(ctx.get(), settings.version, settings.cipher); !ok) {
    return std::unexpected(ok.error());
  }
  if (settings.ktls) SSL_CTX_set_options(ctx.get(), SSL_OP_ENABLE_KTLS);
  return ctx;
}

KtlsState ktls_state(SSL* ssl) {
  return {.tx = BIO_get_ktls_send(SSL_get_wbio(ssl)) != 0,
          .rx = BIO_get_ktls_recv(SSL_get_rbio(ssl)) != 0};
}

bool tls_module_loaded() { return access("/proc/net/tls_stat", F_OK) == 0; }

bool kernel_offloads_cipher(const SSL* ssl) {
  const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl);
  if (cipher == nullptr) return false;
  switch (SSL_CIPHER_get_cipher_nid(cipher)) {
    case NID_aes_128_gcm:
    case NID_aes_256_gcm:
    case NID_chacha20_poly1305:
      return true;
    case NID_aes_128_ccm:  // the 16-byte tag only, and not under TLS 1.3
      return SSL_version(ssl) == TLS1_2_VERSION &&
             std::strstr(SSL_CIPHER_get_name(cipher), "CCM8") == nullptr;
    default:
      return false;
  }
}

bool openssl_receives_tls13_with_ktls() { return OpenSSL_version_num() >= 0x30200000L; }

}  // namespace tlstap::tools
