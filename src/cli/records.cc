#include "cli/records.h"

#include <utility>

namespace tlstap::cli {

Records::Records(Sink sink, streams::Limits limits)
    : tracker_([sink = std::move(sink)](protocols::http1::Record&& r) { sink(r); }),
      reassembler_(limits, &tracker_) {}

Records::Records(exporting::Exporter& exporter, streams::Limits limits)
    : Records([&exporter](const protocols::http1::Record& r) { exporter.on_record(r); }, limits) {}

void Records::add_stats(capture::Stats* s) const {
  protocols::http1::TrackerStats t = tracker_.stats();
  s->records_enabled = true;
  s->records = t.records;
  s->record_errors = t.errors;
  s->record_parse_errors = t.invalid;
  s->record_gaps = t.gaps;
}

}  // namespace tlstap::cli
