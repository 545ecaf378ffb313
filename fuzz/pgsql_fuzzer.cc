// libFuzzer target: one connection through the router into the PostgreSQL
// tracker (opening, framing, resynchronisation, pairing, named statements),
// fed in calls of any size, with gaps and a close. Input: one byte of
// flags (bit 0: the client's direction starts with a StartupMessage, so
// most inputs get past the opening), then records of [op][length][length
// bytes]; op % 4: 0 client bytes, 1 server bytes, 2 gap in the client's
// direction, 3 gap in the server's.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/connection_ops.h"
#include "protocols/pgsql/tracker.h"
#include "protocols/router.h"

namespace pgsql = tlstap::protocols::pgsql;
namespace streams = tlstap::streams;
using tlstap::capture::Dir;
using tlstap::protocols::Record;

namespace {

// A StartupMessage: length 23, protocol 3.0, user "u", database "d".
constexpr char kStartup[] = "\x00\x00\x00\x17\x00\x03\x00\x00user\0u\0database\0d\0\0";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  pgsql::Limits limits;
  limits.max_message_kept = 64;  // small bounds, so inputs reach them
  limits.max_text_kept = 32;
  limits.max_statements = 4;
  limits.max_waiting = 8;
  uint64_t records = 0;
  pgsql::Tracker tracker(
      [&](Record&& r) {
        ++records;
        if (r.target.size() > limits.max_text_kept ||
            r.db_error_message.size() > limits.max_text_kept ||
            r.db_error_code.size() > limits.max_message_kept)
          __builtin_trap();  // kept fields are bounded
        if (r.rows < -1) __builtin_trap();
      },
      limits);
  tlstap::fuzz::NullSink http1;
  tlstap::protocols::Router router({{pgsql::ClassifyOpening, &tracker}}, &http1);
  streams::ConnInfo info;
  info.conn_id = 1;
  uint64_t pos[2] = {0, 0}, ts = 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (in[0] & 1) {
    std::string_view startup(kStartup, sizeof(kStartup) - 1);
    router.on_data(info, Dir::kTx, 0, startup, ++ts);
    pos[0] = startup.size();
  }
  in.remove_prefix(1);
  tlstap::fuzz::FeedOps(router, info, in, pos, &ts);
  if (tracker.connections() != 0 || router.connections() != 0) __builtin_trap();
  if (tracker.stats().records != records) __builtin_trap();
  return 0;
}
