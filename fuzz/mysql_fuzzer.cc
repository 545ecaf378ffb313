// libFuzzer target: one connection through the router into the MySQL
// tracker (packets joined at 0xffffff, the opening, command/response
// pairing with or without CLIENT_DEPRECATE_EOF, prepared statements,
// gaps, close), fed in calls of any size. Input: one byte of flags (bit 0:
// the client's direction starts with a HandshakeResponse41, so most inputs
// get past the opening; bit 1: it asks for CLIENT_DEPRECATE_EOF), then
// records of [op][length][length bytes]; op % 4: 0 client bytes, 1 server
// bytes, 2 gap in the client's direction, 3 gap in the server's.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/connection_ops.h"
#include "protocols/mysql/tracker.h"
#include "protocols/router.h"

namespace mysql = tlstap::protocols::mysql;
namespace streams = tlstap::streams;
using tlstap::capture::Dir;
using tlstap::protocols::Record;

namespace {

// A HandshakeResponse41 (sequence id 2) for user "u" with caps.
std::string HandshakeResponse(uint32_t caps) {
  std::string p;
  for (int i = 0; i < 4; ++i) p += static_cast<char>((caps >> (8 * i)) & 0xff);
  p += std::string("\x00\x00\x00\x01\x21", 5);  // max packet size, character set
  p += std::string(23, '\0');                   // filler
  p += std::string("u\0\0", 3);                 // user, empty auth response
  std::string out = {static_cast<char>(p.size()), 0, 0, 2};
  return out + p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  mysql::Limits limits;
  limits.max_payload_kept = 64;  // small bounds, so inputs reach them
  limits.max_prepared = 4;
  limits.max_pending = 4;
  uint64_t records = 0;
  mysql::Tracker tracker(
      [&](Record&& r) {
        ++records;
        if (r.target.size() > limits.max_payload_kept ||
            r.db_error_message.size() > limits.max_payload_kept)
          __builtin_trap();  // kept fields are bounded
        if (r.proto != tlstap::protocols::Proto::kMysql) __builtin_trap();
      },
      limits);
  tlstap::fuzz::NullSink http1;
  tlstap::protocols::Router router({{mysql::ClassifyOpening, &tracker}}, &http1);
  streams::ConnInfo info;
  info.conn_id = 1;
  uint64_t pos[2] = {0, 0}, ts = 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (in[0] & 1) {
    uint32_t caps = mysql::kClientProtocol41 | mysql::kClientSsl;
    if (in[0] & 2) caps |= mysql::kClientDeprecateEof;
    std::string hr = HandshakeResponse(caps);
    router.on_data(info, Dir::kTx, 0, hr, ++ts);
    pos[0] = hr.size();
  }
  in.remove_prefix(1);
  tlstap::fuzz::FeedOps(router, info, in, pos, &ts);
  if (tracker.connections() != 0 || router.connections() != 0) __builtin_trap();
  if (tracker.stats().records != records) __builtin_trap();
  return 0;
}
