// TLS secrets as NSS key log lines ("SSLKEYLOGFILE"), the text Wireshark
// reads from a key log file or from a pcapng Decryption Secrets Block:
//
//   <LABEL> <client random, 64 lowercase hex digits> <secret, lowercase hex>\n
//
// The client random (32 bytes from the ClientHello) names the session; the
// label says which secret follows.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.h"

namespace tlstap::keys {

enum class SecretLabel {
  kClientRandom,                  // TLS 1.2 and earlier: the 48-byte master secret
  kClientHandshakeTrafficSecret,  // TLS 1.3 from here on: one hash length each
  kServerHandshakeTrafficSecret,
  kClientTrafficSecret0,
  kServerTrafficSecret0,
  kExporterSecret,
};

using ClientRandom = std::array<uint8_t, 32>;

struct KeyLogLine {
  SecretLabel label = SecretLabel::kClientRandom;
  ClientRandom client_random{};
  std::vector<uint8_t> secret;

  bool operator==(const KeyLogLine&) const = default;
};

// The label as the key log spells it ("CLIENT_TRAFFIC_SECRET_0").
std::string_view label_name(SecretLabel label);
std::optional<SecretLabel> parse_label(std::string_view name);

// A line from its parts, checking the secret's length: 48 bytes for
// CLIENT_RANDOM, 32 or 48 (SHA-256 or SHA-384, the TLS 1.3 suites' hashes)
// for the others. A wrong length means the secret was read from the wrong
// place; writing it would only make Wireshark fail later, without a word.
Result<KeyLogLine> make_key_log_line(SecretLabel label, std::span<const uint8_t> client_random,
                                     std::span<const uint8_t> secret);

// A line from a TLS library's own key log call (Go's writeKeyLog) as the
// probes read it: label, client random and secret with the lengths the
// library passed, each field holding the bytes that fit (label up to 32,
// random 32, secret up to 64). An error when a length does not fit its
// field or the label is not a key log label.
Result<KeyLogLine> logged_key_log_line(std::string_view label, size_t label_len,
                                       std::span<const uint8_t> random_field, size_t random_len,
                                       std::span<const uint8_t> secret_field, size_t secret_len);

// The line, newline included.
std::string format_key_log_line(const KeyLogLine& line);

// One line as a TLS library's key log callback or a key log file gives it
// (a trailing newline is allowed). Comments and unknown labels are errors:
// callers that read whole files skip them first.
Result<KeyLogLine> parse_key_log_line(std::string_view text);

// Lowercase hex of bytes.
std::string hex_lower(std::span<const uint8_t> bytes);

}  // namespace tlstap::keys
