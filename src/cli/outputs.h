// Every output the options ask for, opened before anything is attached
// (a port in use, a refused path, an interface that is not there stops
// tlstap in one line, having loaded nothing), and handed to the engine
// as its sinks.
#pragma once

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "capture/stats.h"
#include "cli/options.h"
#include "export/exporter.h"
#include "export/keylog/key_log_sink.h"
#include "export/otlp/sender.h"
#include "export/output_file.h"
#include "export/prometheus/metrics.h"
#include "export/prometheus/server.h"
#include "loader/probes.h"
#include "packets/interfaces.h"
#include "packets/packet_capture.h"
#include "packets/packet_sink.h"
#include "util/error.h"

namespace tlstap::cli {

class Outputs {
 public:
  // report: where --otlp's sender thread says a failure (one write each).
  static Result<std::unique_ptr<Outputs>> open(const Options& options,
                                               std::function<void(const std::string&)> report);
  Outputs(const Outputs&) = delete;
  Outputs& operator=(const Outputs&) = delete;

  // In the order their summaries are said at exit.
  std::vector<exporting::Sink*> sinks() const;
  // Whether secrets are read: something takes key log lines.
  bool keys() const { return key_sink_ || packet_sink_; }
  bool packets() const { return packet_capture_ != nullptr; }

  // The table or JSON lines' output (standard output or -w FILE): also
  // where --list goes.
  exporting::Output& output() { return *output_; }

  // Once the TLS probes that name connections are on: the packet programs
  // on every chosen interface. Says where packets are taken.
  Result<void> attach_packets(loader::Probes& probes, bool verbose);
  // The start lines of outputs that run on their own (OTLP, metrics).
  void say_started(std::ostream& err) const;
  // Once the engine stopped: --otlp's last spans (the records made at the
  // end of the run) are sent within 2 s, or counted as dropped.
  void stop_senders();
  // At exit, before the final statistics: one line per file written
  // (packets, the key log). True when the packet file failed (said why):
  // tlstap exits 1 there.
  bool finish(std::ostream& err, const capture::Stats& final, uint64_t key_lines);
  // The final statistics where the table's did not reach a terminal: a
  // file, or a dead pipe.
  void say_final_stats(std::ostream& err, const capture::Stats& final) const;

 private:
  explicit Outputs(const Options& options) : options_(options) {}

  const Options& options_;
  // metrics outlives the server that reads it.
  std::unique_ptr<exporting::Metrics> metrics_;
  std::unique_ptr<exporting::MetricsServer> metrics_server_;
  std::unique_ptr<exporting::otlp::Sender> otlp_;
  std::unique_ptr<exporting::Output> output_;
  std::unique_ptr<exporting::Exporter> exporter_;
  std::unique_ptr<exporting::KeyLogSink> key_sink_;
  std::vector<packets::NetInterface> interfaces_;
  std::unique_ptr<packets::PacketCapture> packet_capture_;
  std::unique_ptr<packets::PacketSink> packet_sink_;
};

}  // namespace tlstap::cli
