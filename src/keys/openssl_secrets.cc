#include "keys/openssl_secrets.h"

#include <algorithm>

namespace tlstap::keys {

std::vector<uint8_t> hkdf_expand_label(const HmacFn& hmac, size_t hash_len,
                                       std::span<const uint8_t> secret, std::string_view label,
                                       std::span<const uint8_t> context, size_t length) {
  // struct HkdfLabel { uint16 length; opaque label<7..255> = "tls13 " + label;
  //                    opaque context<0..255>; }, then T(1) = HMAC(secret, info || 0x01)
  std::vector<uint8_t> info;
  std::string full = "tls13 " + std::string(label);
  info.push_back(static_cast<uint8_t>(length >> 8));
  info.push_back(static_cast<uint8_t>(length));
  info.push_back(static_cast<uint8_t>(full.size()));
  info.insert(info.end(), full.begin(), full.end());
  info.push_back(static_cast<uint8_t>(context.size()));
  info.insert(info.end(), context.begin(), context.end());
  info.push_back(1);
  std::vector<uint8_t> out(hash_len);
  if (length > hash_len || !hmac(hash_len, secret, info, out.data())) return {};
  out.resize(length);
  return out;
}

namespace {

Result<std::vector<KeyLogLine>> lines_tls13(const OpenSslSecrets& s, const HmacFn& hmac) {
  for (size_t len : {size_t{32}, size_t{48}}) {
    std::span<const uint8_t> hs(s.handshake_secret.data(), len);
    std::span<const uint8_t> hash(s.handshake_traffic_hash.data(), len);
    auto client_hs = hkdf_expand_label(hmac, len, hs, "c hs traffic", hash, len);
    if (client_hs.empty()) return fail(ExitCode::kFailure, "HMAC failed");
    auto finished = hkdf_expand_label(hmac, len, client_hs, "finished", {}, len);
    if (!std::equal(finished.begin(), finished.end(), s.client_finished_secret.begin())) continue;
    auto server_hs = hkdf_expand_label(hmac, len, hs, "s hs traffic", hash, len);
    std::vector<KeyLogLine> lines;
    auto add = [&](SecretLabel label, std::span<const uint8_t> secret) -> Result<void> {
      auto line = make_key_log_line(label, s.client_random, secret.first(len));
      if (!line) return std::unexpected(line.error());
      lines.push_back(std::move(*line));
      return {};
    };
    for (auto r : {add(SecretLabel::kClientHandshakeTrafficSecret, client_hs),
                   add(SecretLabel::kServerHandshakeTrafficSecret, server_hs),
                   add(SecretLabel::kClientTrafficSecret0, s.client_app_secret),
                   add(SecretLabel::kServerTrafficSecret0, s.server_app_secret),
                   add(SecretLabel::kExporterSecret, s.exporter_secret)}) {
      if (!r) return std::unexpected(r.error());
    }
    return lines;
  }
  return fail(ExitCode::kFailure,
              "TLS 1.3 secrets do not reproduce the session's Finished key (read from the wrong "
              "place, or not set yet)");
}

}  // namespace

Result<std::vector<KeyLogLine>> openssl_key_log_lines(const OpenSslSecrets& s, const HmacFn& hmac) {
  if (std::all_of(s.client_random.begin(), s.client_random.end(), [](uint8_t b) { return !b; })) {
    return fail(ExitCode::kFailure, "no client random yet");
  }
  if (s.version == kTls13) return lines_tls13(s, hmac);
  if (s.version < 0x0300 || s.version > kTls12) {
    return fail(ExitCode::kFailure, "unknown protocol version " + std::to_string(s.version));
  }
  if (std::all_of(s.master_key.begin(), s.master_key.end(), [](uint8_t b) { return !b; })) {
    return fail(ExitCode::kFailure, "no master secret yet");
  }
  auto line = make_key_log_line(SecretLabel::kClientRandom, s.client_random, s.master_key);
  if (!line) return std::unexpected(line.error());
  return std::vector<KeyLogLine>{std::move(*line)};
}

}  // namespace tlstap::keys
