// The engine: one run loop that moves what the probes report, in one
// direction, to the outputs.
//
//   probes (ring) ─► capture::Pipeline ─► data events ─┬─► sinks that take data
//                                                       └─► protocols::Records ─► sinks that take
//                                                       records
//                   ├─► secrets ─► keys::KeyService ─► key log lines ─► sinks that take them
//                   ├─► packets ─► sinks that take packets
//                   └─► files mapped ─► Attacher (its own thread)
//
// Each hand-off is a member function below. Sinks are handed their input
// from this thread, in capture order; one that fails stops the run, said
// in one line.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "capture/pipeline.h"
#include "capture/stats.h"
#include "engine/attacher.h"
#include "export/sink.h"
#include "keys/key_service.h"
#include "loader/probes.h"
#include "protocols/records.h"

namespace tlstap::engine {

class Engine {
 public:
  // keys: null unless secrets are read (--keylog, tlstap keys, pcapng).
  // Records are made when a sink takes them.
  Engine(loader::Probes& probes, Attacher& attacher, keys::KeyService* keys,
         std::vector<exporting::Sink*> sinks);
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Runs until *stop is set, or a sink fails; then drains what the kernel
  // still holds and finishes every sink.
  void run(const std::atomic<bool>& stop);

  capture::Stats snapshot() const;
  // The last statistics, once, to every sink (the table's summary).
  void final_stats(const capture::Stats& stats);
  // A sink failed otherwise than by its reader going away (EPIPE, a
  // normal stop): disk full, I/O error. Said why; tlstap exits 1.
  bool output_failed() const;

 private:
  using Clock = std::chrono::steady_clock;

  void on_data(const capture::DataEvent& e);
  void on_record(const protocols::Record& r);
  void on_secrets(const capture::SecretsEvent& e);
  void on_logged_secret(const capture::LoggedSecretEvent& e);
  void on_key_lines(const std::vector<keys::KeyLogLine>& lines);
  void on_packet(const capture::PacketEvent& p);
  void on_conn_end(const capture::ConnEndEvent& e);
  // Flushes every sink, hands out statistics that are due; false once a
  // sink failed (said why, once).
  bool tick(Clock::time_point now);
  bool sinks_failed();

  loader::Probes& probes_;
  Attacher& attacher_;
  keys::KeyService* const keys_;
  // Each sink with what it takes and when its statistics are due next.
  struct Entry {
    exporting::Sink* sink;
    exporting::Sink::Takes takes;
    std::optional<std::chrono::seconds> period;
    Clock::time_point next_stats;
    bool failure_said = false;
  };
  std::vector<Entry> sinks_;
  std::set<std::string> failures_said_;  // two sinks on one output fail alike: said once
  capture::Pipeline pipeline_;
  std::unique_ptr<protocols::Records> records_;  // when a sink takes records
  Clock::time_point next_record_expiry_{};
};

}  // namespace tlstap::engine
