// The live table and the JSON lines: the Sink a user reads
// (export/text/table.h, export/json/json_lines.h). By default it takes
// the data events and the records; main narrows that (--records without
// --events shows records alone; -w FILE.pcapng shows neither).
#pragma once

#include <string>

#include "export/sink.h"
#include "protocols/http1/types.h"  // protocols::http1::Record, the same type, for sinks that name it

namespace tlstap::exporting {

class Exporter : public Sink {
 public:
  Takes takes() const override { return takes_; }
  void show(Takes takes) { takes_ = takes; }
  // --stats[=SECONDS]: statistics that often, not only at exit.
  std::optional<std::chrono::seconds> stats_period() const override { return stats_period_; }
  void set_stats_period(std::optional<std::chrono::seconds> period) { stats_period_ = period; }

  // A request paired with its response (--records), as soon as both are
  // whole; record.proto says which protocol. protocols::http1::Record is the
  // same type.
  void on_record(const protocols::Record& record) override = 0;
  // Called after each batch of events: make them visible.
  virtual void flush() = 0;
  void flush(uint64_t) override { flush(); }
  // The output can no longer be written (reader gone, disk full).
  virtual bool failed() const = 0;
  // Once failed(): the errno of the write that failed (EPIPE: the output's
  // reader went away), 0 if not known.
  virtual int error() const { return 0; }
  // Where the output goes, for messages: a path, "standard output".
  virtual std::string output_name() const { return "the output"; }
  std::optional<SinkFailure> failure() const override {
    if (!failed()) return std::nullopt;
    return write_failure(output_name(), error());
  }
  // What was handed to the output and never reached it: events (and their
  // captured bytes) and records.
  virtual void add_unwritten(capture::Stats* stats) const { (void)stats; }
  void add_stats(capture::Stats* stats) const override { add_unwritten(stats); }

 private:
  Takes takes_{.data = true, .records = true};
  std::optional<std::chrono::seconds> stats_period_;
};

}  // namespace tlstap::exporting
