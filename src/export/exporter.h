// One interface, many sinks: the live table, JSON lines, and later pcapng,
// Prometheus, OTLP. The pipeline calls these in event order from one thread.
#pragma once

#include <string>

#include "capture/events.h"
#include "capture/stats.h"
#include "protocols/http1/types.h"  // protocols::http1::Record, the same type, for sinks that name it
#include "protocols/record.h"

namespace tlstap::exporting {

class Exporter {
 public:
  virtual ~Exporter() = default;
  virtual void on_data(const capture::DataEvent& event) = 0;
  // A request paired with its response (--records), as soon as both are
  // whole; HTTP/1 or HTTP/2 (record.proto). protocols::http1::Record is the
  // same type.
  virtual void on_record(const protocols::Record& record) = 0;
  // final is true once, at exit.
  virtual void on_stats(const capture::Stats& stats, bool final) = 0;
  // Called after each batch of events: make them visible.
  virtual void flush() = 0;
  // The output can no longer be written (reader gone, disk full): nothing
  // more would reach anyone, so the session stops.
  virtual bool failed() const = 0;
  // Once failed(): the errno of the write that failed (EPIPE: the output's
  // reader went away), 0 if not known.
  virtual int error() const { return 0; }
  // Where the output goes, for messages: a path, "standard output".
  virtual std::string output_name() const { return "the output"; }
  // What was handed to the output and never reached it: events (and their
  // captured bytes) and records.
  virtual void add_unwritten(capture::Stats* stats) const { (void)stats; }
};

}  // namespace tlstap::exporting
