// Where one OpenSSL build keeps a session's secrets inside its SSL objects,
// found by running handshakes against that very file (tlstap-keyprobe), not
// read from a table of versions. Every offset was checked against the key
// log lines the library itself wrote for those handshakes.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.h"

namespace tlstap::keys {

struct SslOffsets {
  // in struct ssl_st (OpenSSL 3.x: s3 is inline)
  uint32_t version = 0;                 // int: the protocol version
  uint32_t client_random = 0;           // 32 bytes
  uint32_t session = 0;                 // SSL_SESSION *
  uint32_t handshake_secret = 0;        // TLS 1.3, each a 64-byte array
  uint32_t handshake_traffic_hash = 0;  // the transcript hash the handshake secrets used
  uint32_t client_finished_secret = 0;  // the client's Finished key (checks the two above)
  uint32_t client_app_secret = 0;
  uint32_t server_app_secret = 0;
  uint32_t exporter_secret = 0;
  // in SSL_SESSION
  uint32_t master_key = 0;  // 48 bytes, TLS 1.2

  bool operator==(const SslOffsets&) const = default;
};

// The helper's output: "name offset" lines; parse_offsets refuses anything
// incomplete. An error line ("error why") becomes the error's message.
std::string format_offsets(const SslOffsets& o);
Result<SslOffsets> parse_offsets(std::string_view text);

// A helper's "name value" lines (every prober's output) as name -> value
// text; lines without a space are skipped; an "error why" line is the error.
Result<std::map<std::string, std::string>> read_helper_lines(std::string_view text);

// The GNU build id of an ELF file, lowercase hex ("" if it has none).
std::string read_build_id(const std::string& path);

// Runs helper (tlstap-keyprobe) on the library at path (as tlstap reaches
// it: /proc/PID/root/... for a container's) and returns its offsets. The
// helper never touches traced processes: it loads its own copy of the file.
// Results are cached by build id for the life of the process.
Result<SslOffsets> find_ssl_offsets(const std::string& helper, const std::string& path);

// Runs the helper with args; its standard output (bounded, timed), or why
// it failed.
Result<std::string> run_keyprobe(const std::string& helper, const std::vector<std::string>& args);

// tlstap-keyprobe next to the running executable.
std::string default_keyprobe_path();

}  // namespace tlstap::keys
