// TLS secrets, from what the probes read to key log lines. For a library
// (OpenSSL, BoringSSL, GnuTLS) it finds where that build keeps a session's
// secrets (tlstap-keyprobe runs handshakes against the very file) and
// hands the probes that layout (bpf/tlstap.h's tlstap_ssl_offsets); from
// each secrets record it makes the session's key log lines (deriving
// OpenSSL's TLS 1.3 traffic secrets where needed); Go's writeKeyLog lines
// come final. Each distinct line is given once.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bpf/tlstap.h"
#include "capture/events.h"
#include "discovery/targets.h"
#include "keys/key_log.h"
#include "keys/key_log_set.h"
#include "keys/openssl_secrets.h"
#include "util/error.h"

namespace tlstap::keys {

class KeyService {
 public:
  // keyprobe: the tlstap-keyprobe executable. verbose: say why each
  // session's secrets could not be used.
  KeyService(std::string keyprobe, bool verbose);

  // Whether the probes read this stack's secrets from its objects (so it
  // needs offsets_for); Go hands them over whole (writeKeyLog).
  static bool reads_objects(discovery::LibKind kind);
  // Where this build of a library keeps a session's secrets, as the
  // probes take it, or why that cannot be known.
  Result<tlstap_ssl_offsets> offsets_for(const discovery::Target& t) const;

  // The key log lines of a secrets record not given before.
  std::vector<KeyLogLine> lines_of(const capture::SecretsEvent& e);
  std::vector<KeyLogLine> lines_of(const capture::LoggedSecretEvent& e);

  uint64_t lines() const { return lines_; }        // distinct lines given
  uint64_t sessions() const { return sessions_; }  // TLS sessions whose secrets came
  // Sessions whose secrets did not check out: written nowhere (a wrong
  // line would only make Wireshark fail).
  uint64_t unusable() const { return unusable_; }

 private:
  // lines: those of one record; counts_session: false for a record that
  // completes a session counted by another (BoringSSL's handshake secrets).
  std::vector<KeyLogLine> new_lines(const capture::SecretsEvent& e,
                                    Result<std::vector<KeyLogLine>> lines, bool counts_session);
  void said_unusable(pid_t pid, const std::string& comm, const std::string& why);

  std::string keyprobe_;
  bool verbose_;
  HmacFn hmac_;
  KeyLogSet seen_;
  uint64_t lines_ = 0, sessions_ = 0, unusable_ = 0;
};

}  // namespace tlstap::keys
