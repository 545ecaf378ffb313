// Every output tlstap writes is a Sink: the live table and JSON lines
// (export/text, export/json, through Exporter), Prometheus metrics
// (export/prometheus), OTLP spans (export/otlp), the key log
// (export/keylog) and pcapng files (packets/). The engine
// (engine/engine.h) holds a list of them and hands each what it takes, in
// capture order, from one thread.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "capture/events.h"
#include "capture/stats.h"
#include "keys/key_log.h"
#include "protocols/record.h"

namespace tlstap::exporting {

// Why a sink can no longer write: one line ("cannot write x.json: No
// space left on device"). reader_gone: its reader went away (EPIPE, as
// with `| head`), a normal end rather than a failure.
struct SinkFailure {
  std::string message;
  bool reader_gone = false;
};

// A write to name that failed with errno err (0: not known).
SinkFailure write_failure(const std::string& name, int err);

class Sink {
 public:
  // What a sink is handed. The engine makes records only when a sink takes
  // them, and asks the kernel for packets only for a sink that takes those.
  struct Takes {
    bool data = false;       // every TLS call's plaintext (DataEvent)
    bool records = false;    // requests paired with their responses
    bool key_lines = false;  // each distinct key log line, once
    bool packets = false;    // the packets of traced connections
  };

  virtual ~Sink() = default;
  virtual Takes takes() const = 0;

  virtual void on_data(const capture::DataEvent& event) { (void)event; }
  virtual void on_record(const protocols::Record& record) { (void)record; }
  virtual void on_key_line(const keys::KeyLogLine& line) { (void)line; }
  virtual void on_packet(const capture::PacketEvent& packet) { (void)packet; }
  // Statistics: every stats_period() while running, and once with final
  // set at exit.
  virtual std::optional<std::chrono::seconds> stats_period() const { return std::nullopt; }
  virtual void on_stats(const capture::Stats& stats, bool final) {
    (void)stats;
    (void) final;
  }
  // After each batch of events: make them visible. now_ns
  // (CLOCK_REALTIME) is for sinks that hold data back a while (pcapng
  // puts packets in order).
  virtual void flush(uint64_t now_ns) { (void)now_ns; }
  // At exit, after the last event: write what is still held.
  virtual void finish() {}
  // Set once the sink can no longer write: nothing more would reach
  // anyone, so the engine says why and stops.
  virtual std::optional<SinkFailure> failure() const { return std::nullopt; }
  // Its own counters into *stats (what it never wrote, spans sent).
  virtual void add_stats(capture::Stats* stats) const { (void)stats; }
};

}  // namespace tlstap::exporting
