// Ring-buffer records in, finished events out: decoding, chunk assembly and
// the user-side counters. Events are handed on as soon as they are complete,
// from inside the ring-buffer callback, so memory stays bounded however long
// the kernel keeps the reader busy. Knows nothing of libbpf: tests feed it
// records built in memory exactly as the kernel lays them out.
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
  using EventHandler = std::function<void(const DataEvent&)>;
  using FileMappedHandler = std::function<void(const FileMappedEvent&)>;
  using SecretsHandler = std::function<void(const SecretsEvent&)>;
  using LoggedSecretHandler = std::function<void(const LoggedSecretEvent&)>;
  using PacketHandler = std::function<void(const PacketEvent&)>;
  using ConnEndHandler = std::function<void(const ConnEndEvent&)>;

  Pipeline(int64_t realtime_offset_ns, EventHandler on_event, FileMappedHandler on_file_mapped,
           SecretsHandler on_secrets = nullptr, LoggedSecretHandler on_logged_secret = nullptr)
      : assembler_(realtime_offset_ns),
        realtime_offset_ns_(realtime_offset_ns),
        on_event_(std::move(on_event)),
        on_file_mapped_(std::move(on_file_mapped)),
        on_secrets_(std::move(on_secrets)),
        on_logged_secret_(std::move(on_logged_secret)) {}

  void on_record(std::span<const uint8_t> bytes, Clock::time_point now);

  // -w FILE.pcapng: where packets go (with ts_ns made CLOCK_REALTIME).
  void set_packet_handler(PacketHandler on_packet) { on_packet_ = std::move(on_packet); }
  // Where the ends of TLS sessions go (ts_ns made CLOCK_REALTIME), each
  // after every event of its session, calls missing chunks included.
  void set_conn_end_handler(ConnEndHandler on_conn_end) { on_conn_end_ = std::move(on_conn_end); }

  // Finishes calls idle for max_idle, with their missing ranges listed
  // (zero: everything still pending, at exit).
  void flush(Clock::time_point now, Clock::duration max_idle);

  const Stats& user_stats() const { return stats_; }

 private:
  void deliver();

  CallAssembler assembler_;
  int64_t realtime_offset_ns_;
  EventHandler on_event_;
  FileMappedHandler on_file_mapped_;
  SecretsHandler on_secrets_;
  LoggedSecretHandler on_logged_secret_;
  PacketHandler on_packet_;
  ConnEndHandler on_conn_end_;
  std::vector<DataEvent> ready_;
  Stats stats_;
};

}  // namespace tlstap::capture
