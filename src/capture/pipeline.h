// Ring-buffer records in, finished events out: decoding, chunk assembly and
// the user-side counters. Knows nothing of libbpf, so tests feed it records
// built in memory exactly as the kernel lays them out.
#pragma once

#include <chrono>
#include <functional>
#include <span>
#include <vector>

#include "capture/assembler.h"
#include "capture/events.h"
#include "capture/stats.h"

namespace tlstap::capture {

class Pipeline {
 public:
  using Clock = CallAssembler::Clock;
  using FileMappedHandler = std::function<void(const FileMappedEvent&)>;

  Pipeline(int64_t realtime_offset_ns, FileMappedHandler on_file_mapped)
      : assembler_(realtime_offset_ns), on_file_mapped_(std::move(on_file_mapped)) {}

  void on_record(std::span<const uint8_t> bytes, Clock::time_point now);

  // Events finished so far; calls idle for max_idle are finished with their
  // missing ranges listed (zero: finish everything, at exit). Counts what it
  // returns.
  std::vector<DataEvent> take(Clock::time_point now, Clock::duration max_idle);

  const Stats& user_stats() const { return stats_; }

 private:
  CallAssembler assembler_;
  FileMappedHandler on_file_mapped_;
  std::vector<DataEvent> ready_;
  Stats stats_;
};

}  // namespace tlstap::capture
