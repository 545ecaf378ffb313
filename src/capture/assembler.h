// Joins the chunks of each TLS call into one DataEvent. Chunks of a call are
// emitted in order by one BPF program run, so they arrive in order, but
// records of other threads may interleave and chunks may be lost (ring
// buffer full, unreadable memory): a call with holes is still delivered, with
// the missing ranges listed, once it cannot complete any more.
#pragma once

#include <chrono>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "capture/decoder.h"
#include "capture/events.h"

namespace tlstap::capture {

class CallAssembler {
 public:
  using Clock = std::chrono::steady_clock;

  // realtime_offset_ns: CLOCK_REALTIME - CLOCK_MONOTONIC, to date events.
  explicit CallAssembler(int64_t realtime_offset_ns) : realtime_offset_ns_(realtime_offset_ns) {}

  // Adds a chunk; appends the events it finishes to *out. An event of one
  // chunk borrows the chunk's payload (no copy): hand it on before the
  // ring-buffer callback returns, as Pipeline does.
  void add(const DataChunk& chunk, std::vector<DataEvent>* out, Clock::time_point now);

  // Finishes calls that received nothing for max_idle (their missing chunks
  // are lost), or all of them when max_idle is zero.
  void flush(Clock::time_point now, Clock::duration max_idle, std::vector<DataEvent>* out);
  // The session conn_id ended: its calls still missing chunks get no more.
  void finish_conn(uint64_t conn_id, std::vector<DataEvent>* out);

 private:
  struct Pending {
    DataEvent event;
    uint64_t mono_ts = 0;      // identifies the call among the thread's calls
    uint64_t next_offset = 0;  // first byte of the call not received yet
    Clock::time_point last_arrival;
  };

  DataEvent start(const DataChunk& chunk) const;
  static void finish(Pending* p, std::vector<DataEvent>* out);

  int64_t realtime_offset_ns_;
  std::unordered_map<pid_t, Pending> pending_;  // by thread: one call in flight each
};

// CLOCK_REALTIME - CLOCK_MONOTONIC now.
int64_t realtime_offset_ns();

}  // namespace tlstap::capture
