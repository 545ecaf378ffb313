// libFuzzer target: the reassembler under events in any order, repeated,
// overlapping, with lost ranges, closes, expiry and eviction. Every byte
// of a stream is a function of its position, so a sink can check that each
// direction comes out in order, each byte right, gaps where data is
// missing, and memory within the bound.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "streams/reassembler.h"

namespace streams = tlstap::streams;
using tlstap::capture::DataEvent;
using tlstap::capture::Dir;

namespace {

char ByteAt(uint64_t conn, Dir dir, uint64_t pos) {
  return static_cast<char>((pos * 131 + conn * 7 + static_cast<int>(dir)) & 0xff);
}

class CheckingSink : public streams::Sink {
 public:
  void on_data(const streams::ConnInfo& conn, Dir dir, uint64_t pos, std::string_view bytes,
               uint64_t) override {
    uint64_t& next = next_[{conn.conn_id, dir}];
    if (pos != next || bytes.empty()) __builtin_trap();
    for (size_t i = 0; i < bytes.size(); ++i)
      if (bytes[i] != ByteAt(conn.conn_id, dir, pos + i)) __builtin_trap();
    next += bytes.size();
  }
  void on_gap(const streams::ConnInfo& conn, Dir dir, uint64_t pos, uint64_t len) override {
    uint64_t& next = next_[{conn.conn_id, dir}];
    if (pos != next || len == 0) __builtin_trap();
    next += len;
  }
  void on_close(const streams::ConnInfo& conn, streams::CloseReason) override {
    next_.erase({conn.conn_id, Dir::kTx});
    next_.erase({conn.conn_id, Dir::kRx});
  }

 private:
  std::map<std::pair<uint64_t, Dir>, uint64_t> next_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  streams::Limits limits;
  limits.max_pending_bytes = 64;
  limits.max_hole_age_ns = 100;
  limits.max_connections = 3;
  limits.idle_timeout_ns = 1000;
  CheckingSink sink;
  streams::Reassembler r(limits, &sink);
  std::map<std::pair<uint64_t, Dir>, uint64_t> cursor;  // where each stream's writer is
  uint64_t now = 1;
  while (in.remaining_bytes() > 0) {
    switch (in.ConsumeIntegralInRange<int>(0, 7)) {
      case 5:
        now += in.ConsumeIntegralInRange<uint64_t>(0, 300);
        r.expire(now);
        break;
      case 6:
        r.close(in.ConsumeIntegralInRange<uint64_t>(0, 4));
        break;
      case 7:
        if (in.ConsumeBool()) r.close_all();
        break;
      default: {
        DataEvent e;
        e.conn_id = in.ConsumeIntegralInRange<uint64_t>(0, 4);
        e.dir = in.ConsumeBool() ? Dir::kTx : Dir::kRx;
        uint64_t& at = cursor[{e.conn_id, e.dir}];
        // Mostly near the writer's position: reordering, repeats, overlaps.
        int64_t delta = in.ConsumeIntegralInRange<int64_t>(-40, 40);
        e.stream_pos = delta < 0 && static_cast<uint64_t>(-delta) > at ? 0 : at + delta;
        if (in.ConsumeIntegralInRange<int>(0, 50) == 0)
          e.stream_pos = in.ConsumeIntegral<uint64_t>();
        e.len = in.ConsumeIntegralInRange<uint64_t>(0, 90);
        uint64_t lost_off = 0, lost_len = 0;
        if (in.ConsumeBool() && e.len > 0) {
          lost_off = in.ConsumeIntegralInRange<uint64_t>(0, e.len - 1);
          lost_len = in.ConsumeIntegralInRange<uint64_t>(0, e.len - lost_off);
          e.lost = {{lost_off, lost_len}};
        }
        for (uint64_t i = 0; i < e.len; ++i)
          if (i < lost_off || i >= lost_off + lost_len || e.lost.empty())
            e.data.owned().push_back(ByteAt(e.conn_id, e.dir, e.stream_pos + i));
        if (in.ConsumeIntegralInRange<int>(0, 30) == 0 && !e.data.empty())
          e.data.owned().pop_back();
        now += in.ConsumeIntegralInRange<uint64_t>(0, 20);
        e.ts_ns = now;
        r.add(e);
        bool wraps = e.stream_pos > UINT64_MAX - e.len;  // refused as malformed
        if (!wraps && e.stream_pos + e.len > at && e.stream_pos + e.len - at < 1000)
          at = e.stream_pos + e.len;
        // The bound: per direction, max_pending_bytes plus the event being added.
        if (r.pending_bytes() > r.connections() * 2 * (limits.max_pending_bytes + 90))
          __builtin_trap();
        if (r.connections() > limits.max_connections) __builtin_trap();
      }
    }
  }
  r.close_all();
  if (r.connections() != 0 || r.pending_bytes() != 0) __builtin_trap();
  return 0;
}
