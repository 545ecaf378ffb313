#include "cli/records.h"

#include <utility>

namespace tlstap::cli {

Records::Records(Sink sink, streams::Limits limits, protocols::http2::Limits http2_limits)
    : http1_([sink](protocols::Record&& r) { sink(r); }),
      http2_([sink](protocols::Record&& r) { sink(r); }, http2_limits),
      mysql_([sink](protocols::Record&& r) { sink(r); }),
      pgsql_([sink](protocols::Record&& r) { sink(r); }),
      router_({{protocols::http2::ClassifyOpening, &http2_},
               {protocols::mysql::ClassifyOpening, &mysql_},
               {protocols::pgsql::ClassifyOpening, &pgsql_}},
              &http1_),
      reassembler_(limits, &router_) {}

Records::Records(exporting::Exporter& exporter, streams::Limits limits,
                 protocols::http2::Limits http2_limits)
    : Records([&exporter](const protocols::Record& r) { exporter.on_record(r); }, limits,
              http2_limits) {}

void Records::add_stats(capture::Stats* s) const {
  protocols::http1::TrackerStats t = http1_.stats();
  const protocols::http2::Stats& h2 = http2_.stats();
  const protocols::mysql::Stats& my = mysql_.stats();
  protocols::pgsql::Stats pg = pgsql_.stats();
  s->records_enabled = true;
  s->records = t.records;
  s->records_http2 = h2.records;
  s->records_mysql = my.records;
  s->records_postgres = pg.records;
  s->record_errors = t.errors + h2.errors + my.errors + pg.errors;
  s->record_parse_errors = t.invalid + h2.invalid + h2.hpack_errors + my.invalid + pg.invalid;
  s->record_gaps = t.gaps + h2.gaps + my.gaps + pg.gaps;
  s->record_hpack_lost = h2.hpack_lost;
  s->record_overflows = h2.oversized_frames + h2.oversized_header_blocks + h2.stream_overflows +
                        my.overflows + pg.overflows + pg.cut;
  s->record_mysql_compressed = my.compressed;
  s->record_postgres_db_errors = pg.db_errors;
  s->record_postgres_unmatched = pg.unmatched;
}

}  // namespace tlstap::cli
