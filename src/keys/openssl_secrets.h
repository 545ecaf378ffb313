// OpenSSL's secrets as its SSL objects hold them -> NSS key log lines.
//
// TLS 1.2 keeps the master secret in the session. TLS 1.3 keeps the
// application traffic secrets and the exporter secret, but not the
// handshake traffic secrets (OpenSSL 3.0 derives them and throws them
// away); it keeps what they came from: the handshake secret and the
// transcript hash they were derived with. So
//
//   CLIENT_HANDSHAKE_TRAFFIC_SECRET =
//       HKDF-Expand-Label(handshake_secret, "c hs traffic", hash, L)
//
// (RFC 8446 7.1), and likewise "s hs traffic". The hash length L (32 or 48)
// is not stored next to them; the client's Finished key is, and it is
// HKDF-Expand-Label(client handshake traffic secret, "finished", "", L): the
// length whose derivation reproduces it is the session's, and a secret read
// from the wrong place reproduces nothing (no line is written, never a
// wrong one).
//
// No cryptographic library here: HMAC is handed in, so both tlstap (linked
// to libcrypto) and tlstap-keyprobe (which must not be: it loads the very
// libssl under study) use this code.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "keys/key_log.h"
#include "util/error.h"

namespace tlstap::keys {

// HMAC with SHA-256 (hash_len 32) or SHA-384 (48) into out[hash_len].
using HmacFn = std::function<bool(size_t hash_len, std::span<const uint8_t> key,
                                  std::span<const uint8_t> data, uint8_t* out)>;

// HKDF-Expand-Label(secret, label, context, length) for length <= hash_len.
std::vector<uint8_t> hkdf_expand_label(const HmacFn& hmac, size_t hash_len,
                                       std::span<const uint8_t> secret, std::string_view label,
                                       std::span<const uint8_t> context, size_t length);

// TLS 1.3 secret fields are EVP_MAX_MD_SIZE arrays; the hash length's
// first bytes are used.
inline constexpr size_t kSslSecretField = 64;
using SecretField = std::array<uint8_t, kSslSecretField>;

// What the probes read from one SSL object.
struct OpenSslSecrets {
  int version = 0;  // the SSL's protocol version: 0x0303 TLS 1.2, 0x0304 TLS 1.3
  ClientRandom client_random{};
  std::array<uint8_t, 48> master_key{};  // TLS 1.2 and earlier
  // TLS 1.3
  SecretField handshake_secret{}, handshake_traffic_hash{}, client_finished_secret{};
  SecretField client_app_secret{}, server_app_secret{}, exporter_secret{};
};

inline constexpr int kTls12 = 0x0303;
inline constexpr int kTls13 = 0x0304;

// The key log lines of the session: CLIENT_RANDOM before TLS 1.3; the five
// TLS 1.3 lines otherwise. An error says why none can be trusted.
Result<std::vector<KeyLogLine>> openssl_key_log_lines(const OpenSslSecrets& s, const HmacFn& hmac);

}  // namespace tlstap::keys
