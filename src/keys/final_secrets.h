// Libraries that keep a session's secrets final, as their key log would
// write them (GnuTLS): no derivation left to do, only reading.
//
// Where one build keeps them is found from that very file
// (tlstap-keyprobe --gnutls), like OpenSSL's offsets. Two values sit behind
// pointers into the library's own tables: the protocol version (GnuTLS:
// session->security_parameters.pversion->id) and the hash length of the
// TLS 1.3 suite (security_parameters.prf->output_size). A secret the build
// does not hold any more when data moves has no offset (kNoOffset) and gets
// no line.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "keys/key_log.h"
#include "keys/openssl_secrets.h"
#include "util/error.h"

namespace tlstap::keys {

inline constexpr uint32_t kNoOffset = UINT32_MAX;

struct FinalOffsets {
  uint32_t version_ptr = kNoOffset;     // pointer in the session; kNoOffset: version is in it
  uint32_t version = 0;                 // int: the library's protocol number
  uint32_t tls13_version = 0;           // that number for TLS 1.3
  uint32_t client_random = 0;           // 32 bytes in the session
  uint32_t master_key_ptr = kNoOffset;  // kNoOffset: master_key is in the session
  uint32_t master_key = 0;              // 48 bytes (TLS 1.2 and earlier)
  uint32_t hash_len_ptr = kNoOffset;    // as version_ptr, for hash_len
  uint32_t hash_len = 0;                // unsigned int: 32 or 48 (TLS 1.3)
  // TLS 1.3, each in a 64-byte array in the session; kNoOffset: not held
  uint32_t client_hs_secret = kNoOffset;
  uint32_t server_hs_secret = kNoOffset;
  uint32_t client_app_secret = kNoOffset;
  uint32_t server_app_secret = kNoOffset;
  uint32_t exporter_secret = kNoOffset;
  // BoringSSL: client_random, the TLS 1.3 secrets, hash_len and
  // master_key_ptr are in the object behind this pointer in the SSL (s3);
  // kNoOffset: in the session itself (GnuTLS).
  uint32_t secrets_ptr = kNoOffset;
  uint32_t version_bytes = 4;   // version's size: 4 (GnuTLS' int) or 2 (BoringSSL's uint16_t)
  uint32_t hash_len_bytes = 4;  // 4; 0: no length field, told by the secret (final_key_log_lines)
  // A library that keeps its own write and read secrets (BoringSSL): then
  // client_app_secret is the write secret and server_app_secret the read
  // one, and a session whose byte at role has role_mask set is a server's,
  // which swaps them. role_mask 0: the offsets are the client's and the
  // server's secrets as they are (GnuTLS).
  uint32_t role = 0;
  uint32_t role_mask = 0;
  // BoringSSL: client_hs_secret and server_hs_secret are in the handshake
  // state behind this pointer in the secrets_ptr object (ssl->s3->hs). It
  // lives only while SSL_do_handshake runs, so the probes read those two
  // there (at its socket writes); kNoOffset: in the session (GnuTLS).
  uint32_t handshake_ptr = kNoOffset;

  bool operator==(const FinalOffsets&) const = default;
};

// "name offset" lines ("name none" for kNoOffset); parse_final_offsets
// refuses anything incomplete or a TLS 1.3 layout without the traffic
// secrets. An error line ("error why") becomes the error's message.
std::string format_final_offsets(const FinalOffsets& o);
Result<FinalOffsets> parse_final_offsets(std::string_view text);

// What the probes read from one session.
struct FinalSecrets {
  bool tls13 = false;
  ClientRandom client_random{};
  std::array<uint8_t, 48> master_key{};  // before TLS 1.3
  // TLS 1.3; 0: not stored, told by the client's traffic secret, or its
  // handshake one when that is all there is (BoringSSL's fields start
  // zeroed, so a SHA-256 secret leaves bytes 32..47 of its field zero: a
  // SHA-384 one has a non-zero byte there but with odds of 2^-128)
  uint32_t hash_len = 0;
  SecretField client_hs_secret{}, server_hs_secret{};
  SecretField client_app_secret{}, server_app_secret{}, exporter_secret{};
};

// The session's key log lines: CLIENT_RANDOM before TLS 1.3; in TLS 1.3 a
// line for each secret that is held (all zeros: not held, no line). An
// error says why none can be trusted.
Result<std::vector<KeyLogLine>> final_key_log_lines(const FinalSecrets& s);

// The BoringSSL prober's runner (tlstap-keyprobe --boringssl), cached too.
Result<FinalOffsets> find_boringssl_offsets(const std::string& helper, const std::string& path);

// The GnuTLS prober's runner: like find_ssl_offsets, cached by build id.
Result<FinalOffsets> find_gnutls_offsets(const std::string& helper, const std::string& path);

}  // namespace tlstap::keys
