#include "keys/key_log.h"

#include <algorithm>

namespace tlstap::keys {
namespace {

constexpr std::array<std::pair<SecretLabel, std::string_view>, 6> kLabels{{
    {SecretLabel::kClientRandom, "CLIENT_RANDOM"},
    {SecretLabel::kClientHandshakeTrafficSecret, "CLIENT_HANDSHAKE_TRAFFIC_SECRET"},
    {SecretLabel::kServerHandshakeTrafficSecret, "SERVER_HANDSHAKE_TRAFFIC_SECRET"},
    {SecretLabel::kClientTrafficSecret0, "CLIENT_TRAFFIC_SECRET_0"},
    {SecretLabel::kServerTrafficSecret0, "SERVER_TRAFFIC_SECRET_0"},
    {SecretLabel::kExporterSecret, "EXPORTER_SECRET"},
}};

constexpr size_t kMasterSecretSize = 48;

std::optional<std::vector<uint8_t>> parse_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::vector<uint8_t> out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    int high = nibble(hex[i]), low = nibble(hex[i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    out.push_back(static_cast<uint8_t>(high << 4 | low));
  }
  return out;
}

}  // namespace

std::string_view label_name(SecretLabel label) {
  for (const auto& [value, name] : kLabels) {
    if (value == label) return name;
  }
  return "UNKNOWN";
}

std::optional<SecretLabel> parse_label(std::string_view name) {
  for (const auto& [value, label_text] : kLabels) {
    if (label_text == name) return value;
  }
  return std::nullopt;
}

Result<KeyLogLine> make_key_log_line(SecretLabel label, std::span<const uint8_t> client_random,
                                     std::span<const uint8_t> secret) {
  if (client_random.size() != ClientRandom{}.size()) {
    return fail(ExitCode::kFailure, std::string(label_name(label)) + ": client random of " +
                                        std::to_string(client_random.size()) +
                                        " bytes (a ClientHello's is 32)");
  }
  bool size_ok = label == SecretLabel::kClientRandom ? secret.size() == kMasterSecretSize
                                                     : secret.size() == 32 || secret.size() == 48;
  if (!size_ok) {
    return fail(ExitCode::kFailure, std::string(label_name(label)) + ": secret of " +
                                        std::to_string(secret.size()) + " bytes (expected " +
                                        (label == SecretLabel::kClientRandom ? "48" : "32 or 48") +
                                        ")");
  }
  KeyLogLine line;
  line.label = label;
  std::copy(client_random.begin(), client_random.end(), line.client_random.begin());
  line.secret.assign(secret.begin(), secret.end());
  return line;
}

Result<KeyLogLine> logged_key_log_line(std::string_view label, size_t label_len,
                                       std::span<const uint8_t> random_field, size_t random_len,
                                       std::span<const uint8_t> secret_field, size_t secret_len) {
  if (label_len != label.size()) {
    return fail(ExitCode::kFailure,
                "key log label of " + std::to_string(label_len) + " bytes (none is that long)");
  }
  std::optional<SecretLabel> parsed = parse_label(label);
  if (!parsed) return fail(ExitCode::kFailure, "unknown key log label: " + std::string(label));
  if (random_len != random_field.size()) {
    return fail(ExitCode::kFailure, std::string(label) + ": client random of " +
                                        std::to_string(random_len) +
                                        " bytes (a ClientHello's is 32)");
  }
  if (secret_len > secret_field.size()) {
    return fail(ExitCode::kFailure, std::string(label) + ": secret of " +
                                        std::to_string(secret_len) + " bytes (at most " +
                                        std::to_string(secret_field.size()) + " are read)");
  }
  return make_key_log_line(*parsed, random_field, secret_field.first(secret_len));
}

std::string hex_lower(std::span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 0xf];
  }
  return out;
}

std::string format_key_log_line(const KeyLogLine& line) {
  std::string out(label_name(line.label));
  out += ' ';
  out += hex_lower(line.client_random);
  out += ' ';
  out += hex_lower(line.secret);
  out += '\n';
  return out;
}

Result<KeyLogLine> parse_key_log_line(std::string_view text) {
  if (text.ends_with('\n')) text.remove_suffix(1);
  if (text.ends_with('\r')) text.remove_suffix(1);
  size_t first = text.find(' ');
  size_t second = first == std::string_view::npos ? first : text.find(' ', first + 1);
  if (second == std::string_view::npos || text.find(' ', second + 1) != std::string_view::npos) {
    return fail(ExitCode::kFailure,
                "not a key log line (LABEL RANDOM SECRET): " + std::string(text.substr(0, 80)));
  }
  std::optional<SecretLabel> label = parse_label(text.substr(0, first));
  if (!label) {
    return fail(ExitCode::kFailure, "unknown key log label: " + std::string(text.substr(0, first)));
  }
  std::optional<std::vector<uint8_t>> random =
      parse_hex(text.substr(first + 1, second - first - 1));
  std::optional<std::vector<uint8_t>> secret = parse_hex(text.substr(second + 1));
  if (!random || !secret) {
    return fail(ExitCode::kFailure,
                "key log line with a field that is not hex: " + std::string(text.substr(0, 80)));
  }
  return make_key_log_line(*label, *random, *secret);
}

}  // namespace tlstap::keys
