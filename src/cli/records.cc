#include "cli/records.h"

#include <utility>

namespace tlstap::cli {

Records::Records(exporting::Exporter& exporter, streams::Limits limits)
    : tracker_([&exporter](protocols::http1::Record&& r) { exporter.on_record(r); }),
      reassembler_(limits, &tracker_) {}

void Records::add_stats(capture::Stats* s) const {
  protocols::http1::TrackerStats t = tracker_.stats();
  s->records_enabled = true;
  s->records = t.records;
  s->record_errors = t.errors;
  s->record_parse_errors = t.invalid;
  s->record_gaps = t.gaps;
}

}  // namespace tlstap::cli
