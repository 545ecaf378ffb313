#include "keys/key_service.h"

#include <algorithm>
#include <iostream>

#include "keys/final_secrets.h"
#include "keys/hmac_openssl.h"
#include "keys/ssl_offsets.h"
#include "util/process_memory.h"

namespace tlstap::keys {

KeyService::KeyService(std::string keyprobe, bool verbose)
    : keyprobe_(std::move(keyprobe)), verbose_(verbose), hmac_(openssl_hmac()) {}

bool KeyService::reads_objects(discovery::LibKind kind) {
  return kind == discovery::LibKind::kOpenSsl || kind == discovery::LibKind::kGnuTls ||
         kind == discovery::LibKind::kBoringSsl;
}

// The build's secret offsets as the probes take them, or why there are none.
Result<tlstap_ssl_offsets> KeyService::offsets_for(const discovery::Target& t) const {
  constexpr uint32_t kNone = TLSTAP_NO_OFFSET;
  if (t.kind == discovery::LibKind::kGnuTls || t.kind == discovery::LibKind::kBoringSsl) {
    auto found = t.kind == discovery::LibKind::kGnuTls
                     ? find_gnutls_offsets(keyprobe_, t.open_path)
                     : find_boringssl_offsets(keyprobe_, t.open_path);
    if (!found) return std::unexpected(found.error());
    auto off = [](uint32_t v) { return v == kNoOffset ? kNone : v; };
    const FinalOffsets& o = *found;
    return tlstap_ssl_offsets{.valid = 1,
                              .version = o.version,
                              .client_random = o.client_random,
                              .session = off(o.master_key_ptr),
                              .master_key = o.master_key,
                              .handshake_secret = kNone,
                              .handshake_traffic_hash = kNone,
                              .client_finished_secret = kNone,
                              .client_app_secret = off(o.client_app_secret),
                              .server_app_secret = off(o.server_app_secret),
                              .exporter_secret = off(o.exporter_secret),
                              .layout = TLSTAP_KEYS_FINAL,
                              .version_ptr = off(o.version_ptr),
                              .tls13_version = o.tls13_version,
                              .hash_len_ptr = off(o.hash_len_ptr),
                              .hash_len = o.hash_len,
                              .client_hs_secret = off(o.client_hs_secret),
                              .server_hs_secret = off(o.server_hs_secret),
                              .secrets_ptr = off(o.secrets_ptr),
                              .version_bytes = o.version_bytes,
                              .hash_len_bytes = o.hash_len_bytes,
                              .role = o.role,
                              .role_mask = o.role_mask,
                              .handshake_ptr = off(o.handshake_ptr)};
  }
  auto found = find_ssl_offsets(keyprobe_, t.open_path);
  if (!found) return std::unexpected(found.error());
  const SslOffsets& o = *found;
  return tlstap_ssl_offsets{.valid = 1,
                            .version = o.version,
                            .client_random = o.client_random,
                            .session = o.session,
                            .master_key = o.master_key,
                            .handshake_secret = o.handshake_secret,
                            .handshake_traffic_hash = o.handshake_traffic_hash,
                            .client_finished_secret = o.client_finished_secret,
                            .client_app_secret = o.client_app_secret,
                            .server_app_secret = o.server_app_secret,
                            .exporter_secret = o.exporter_secret,
                            .layout = TLSTAP_KEYS_OPENSSL,
                            .version_ptr = kNone,
                            .tls13_version = TLSTAP_TLS13_VERSION,
                            .hash_len_ptr = kNone,
                            .hash_len = kNone,
                            .client_hs_secret = kNone,
                            .server_hs_secret = kNone,
                            .secrets_ptr = kNone,
                            .version_bytes = 4,
                            .hash_len_bytes = 4,
                            .role = 0,
                            .role_mask = 0,
                            .handshake_ptr = kNone};
}

std::vector<KeyLogLine> KeyService::lines_of(const capture::SecretsEvent& e) {
  if (e.final_secrets) {
    FinalSecrets f;
    f.tls13 = e.version == TLSTAP_TLS13_VERSION;
    f.client_random = e.client_random;
    f.master_key = e.master_key;
    f.hash_len = e.hash_len;
    f.client_hs_secret = e.client_hs_secret;
    f.server_hs_secret = e.server_hs_secret;
    f.client_app_secret = e.client_app_secret;
    f.server_app_secret = e.server_app_secret;
    f.exporter_secret = e.exporter_secret;
    return new_lines(e, final_key_log_lines(f), !e.handshake_only);
  }
  OpenSslSecrets s;
  s.version = e.version;
  s.client_random = e.client_random;
  s.master_key = e.master_key;
  s.handshake_secret = e.handshake_secret;
  s.handshake_traffic_hash = e.handshake_traffic_hash;
  s.client_finished_secret = e.client_finished_secret;
  s.client_app_secret = e.client_app_secret;
  s.server_app_secret = e.server_app_secret;
  s.exporter_secret = e.exporter_secret;
  return new_lines(e, openssl_key_log_lines(s, hmac_), true);
}

std::vector<KeyLogLine> KeyService::new_lines(const capture::SecretsEvent& e,
                                              Result<std::vector<KeyLogLine>> lines,
                                              bool counts_session) {
  if (!lines) {
    said_unusable(e.pid, e.comm, lines.error().message);
    return {};
  }
  if (counts_session) ++sessions_;
  std::erase_if(*lines, [this](const KeyLogLine& line) { return !seen_.insert(line); });
  lines_ += lines->size();
  return std::move(*lines);
}

// Go hands over each secret final, one line per call; the first line of a
// session counts it (both ends in one process log it twice: given once).
std::vector<KeyLogLine> KeyService::lines_of(const capture::LoggedSecretEvent& e) {
  std::string label = e.label;
  if (e.label_addr) {
    // A label constant the program had not paged in: read it from the
    // process (it lives: it is inside writeKeyLog, or just left it).
    auto read = read_process_memory(e.pid, e.label_addr, std::min<size_t>(e.label_len, 32));
    if (!read) {
      said_unusable(e.pid, e.comm,
                    "its label was not readable in the probe: " + read.error().message);
      return {};
    }
    label = std::move(*read);
  }
  auto line = logged_key_log_line(label, e.label_len, e.client_random, e.random_len, e.secret,
                                  e.secret_len);
  if (!line) {
    said_unusable(e.pid, e.comm, line.error().message);
    return {};
  }
  if (!seen_.insert(*line)) return {};
  ++lines_;
  if (line->label == SecretLabel::kClientRandom ||
      line->label == SecretLabel::kClientHandshakeTrafficSecret) {
    ++sessions_;
  }
  return {std::move(*line)};
}

void KeyService::said_unusable(pid_t pid, const std::string& comm, const std::string& why) {
  ++unusable_;
  if (verbose_) {
    std::cerr << "tlstap: keys: pid " << pid << " (" << comm << "): secrets not written: " << why
              << "\n";
  }
}

}  // namespace tlstap::keys
