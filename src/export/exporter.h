// One interface, many sinks: the live table, JSON lines, and later pcapng,
// Prometheus, OTLP. The pipeline calls these in event order from one thread.
#pragma once

#include "capture/events.h"
#include "capture/stats.h"
#include "protocols/http1/types.h"

namespace tlstap::exporting {

class Exporter {
 public:
  virtual ~Exporter() = default;
  virtual void on_data(const capture::DataEvent& event) = 0;
  // A request paired with its response (--records), as soon as both are whole.
  virtual void on_record(const protocols::http1::Record& record) = 0;
  // final is true once, at exit.
  virtual void on_stats(const capture::Stats& stats, bool final) = 0;
  // Called after each batch of events: make them visible.
  virtual void flush() = 0;
  // The output can no longer be written (reader gone, disk full): nothing
  // more would reach anyone, so the session stops.
  virtual bool failed() const = 0;
};

}  // namespace tlstap::exporting
