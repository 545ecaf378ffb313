#include "keys/final_secrets.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <mutex>

#include "keys/ssl_offsets.h"

namespace tlstap::keys {
namespace {

struct Field {
  const char* name;
  uint32_t FinalOffsets::*member;
  bool may_be_none;
};

constexpr Field kFields[] = {
    {"version_ptr", &FinalOffsets::version_ptr, true},
    {"version", &FinalOffsets::version, false},
    {"tls13_version", &FinalOffsets::tls13_version, false},
    {"client_random", &FinalOffsets::client_random, false},
    {"master_key_ptr", &FinalOffsets::master_key_ptr, true},
    {"master_key", &FinalOffsets::master_key, false},
    {"hash_len_ptr", &FinalOffsets::hash_len_ptr, true},
    {"hash_len", &FinalOffsets::hash_len, false},
    {"client_hs_secret", &FinalOffsets::client_hs_secret, true},
    {"server_hs_secret", &FinalOffsets::server_hs_secret, true},
    {"client_app_secret", &FinalOffsets::client_app_secret, false},
    {"server_app_secret", &FinalOffsets::server_app_secret, false},
    {"exporter_secret", &FinalOffsets::exporter_secret, true},
    {"secrets_ptr", &FinalOffsets::secrets_ptr, true},
    {"version_bytes", &FinalOffsets::version_bytes, false},
    {"hash_len_bytes", &FinalOffsets::hash_len_bytes, false},
    {"role", &FinalOffsets::role, false},
    {"role_mask", &FinalOffsets::role_mask, false},
    {"handshake_ptr", &FinalOffsets::handshake_ptr, true},
};

// Offsets beyond this are not a struct field: a helper gone wrong.
constexpr uint32_t kMaxOffset = 1 << 20;

bool all_zero(std::span<const uint8_t> bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](uint8_t b) { return !b; });
}

}  // namespace

std::string format_final_offsets(const FinalOffsets& o) {
  std::string out;
  for (const Field& f : kFields) {
    uint32_t v = o.*f.member;
    out += std::string(f.name) + " " + (v == kNoOffset ? "none" : std::to_string(v)) + "\n";
  }
  return out;
}

Result<FinalOffsets> parse_final_offsets(std::string_view text) {
  auto lines = read_helper_lines(text);
  if (!lines) return std::unexpected(lines.error());
  std::map<std::string, uint32_t> seen;
  for (const auto& [name, value_text] : *lines) {
    uint32_t value = kNoOffset;
    if (value_text != "none") {
      auto [ptr, ec] =
          std::from_chars(value_text.data(), value_text.data() + value_text.size(), value);
      if (ec != std::errc() || ptr != value_text.data() + value_text.size() ||
          value >= kMaxOffset) {
        return fail(ExitCode::kFailure,
                    "the helper reported a bad value: " + name + " " + value_text);
      }
    }
    seen[name] = value;
  }
  FinalOffsets o;
  for (const Field& f : kFields) {
    auto it = seen.find(f.name);
    if (it == seen.end()) {
      return fail(ExitCode::kFailure, std::string("the helper did not report ") + f.name);
    }
    if (it->second == kNoOffset && !f.may_be_none) {
      return fail(ExitCode::kFailure, std::string("the helper found no ") + f.name);
    }
    o.*f.member = it->second;
  }
  return o;
}

Result<std::vector<KeyLogLine>> final_key_log_lines(const FinalSecrets& s) {
  if (all_zero(s.client_random)) return fail(ExitCode::kFailure, "no client random yet");
  std::vector<KeyLogLine> lines;
  if (!s.tls13) {
    if (all_zero(s.master_key)) return fail(ExitCode::kFailure, "no master secret yet");
    auto line = make_key_log_line(SecretLabel::kClientRandom, s.client_random, s.master_key);
    if (!line) return std::unexpected(line.error());
    lines.push_back(std::move(*line));
    return lines;
  }
  uint32_t hash_len = s.hash_len;
  if (hash_len == 0) {  // told by a secret that is there (handshake ones may come alone)
    const SecretField& told =
        all_zero(s.client_app_secret) ? s.client_hs_secret : s.client_app_secret;
    hash_len = all_zero(std::span(told).subspan(32, 16)) ? 32 : 48;
  }
  if (hash_len != 32 && hash_len != 48) {
    return fail(ExitCode::kFailure,
                "TLS 1.3 hash length " + std::to_string(s.hash_len) + " (not SHA-256 or SHA-384)");
  }
  const std::pair<SecretLabel, const SecretField*> secrets[] = {
      {SecretLabel::kClientHandshakeTrafficSecret, &s.client_hs_secret},
      {SecretLabel::kServerHandshakeTrafficSecret, &s.server_hs_secret},
      {SecretLabel::kClientTrafficSecret0, &s.client_app_secret},
      {SecretLabel::kServerTrafficSecret0, &s.server_app_secret},
      {SecretLabel::kExporterSecret, &s.exporter_secret},
  };
  for (const auto& [label, field] : secrets) {
    std::span<const uint8_t> secret(field->data(), hash_len);
    if (all_zero(secret)) continue;
    auto line = make_key_log_line(label, s.client_random, secret);
    if (!line) return std::unexpected(line.error());
    lines.push_back(std::move(*line));
  }
  if (lines.empty()) return fail(ExitCode::kFailure, "no TLS 1.3 secret set yet");
  return lines;
}

namespace {

Result<FinalOffsets> find_final_offsets(const std::string& helper, const std::string& flag,
                                        const std::string& path) {
  static std::mutex mutex;
  static std::map<std::string, Result<FinalOffsets>> by_build_id;  // "flag id"
  std::string build_id = read_build_id(path);
  std::string key = flag + " " + build_id;
  std::lock_guard lock(mutex);
  if (!build_id.empty()) {
    if (auto it = by_build_id.find(key); it != by_build_id.end()) return it->second;
  }
  auto out = run_keyprobe(helper, {flag, path});
  Result<FinalOffsets> found = out ? parse_final_offsets(*out) : std::unexpected(out.error());
  if (!build_id.empty()) by_build_id.emplace(key, found);
  return found;
}

}  // namespace

Result<FinalOffsets> find_gnutls_offsets(const std::string& helper, const std::string& path) {
  return find_final_offsets(helper, "--gnutls", path);
}

Result<FinalOffsets> find_boringssl_offsets(const std::string& helper, const std::string& path) {
  return find_final_offsets(helper, "--boringssl", path);
}

}  // namespace tlstap::keys
