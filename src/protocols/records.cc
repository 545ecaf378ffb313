#include "protocols/records.h"

#include <utility>

namespace tlstap::protocols {

Records::Records(Handler handler, streams::Limits limits, http2::Limits http2_limits)
    : http1_([handler](Record&& r) { handler(r); }),
      http2_([handler](Record&& r) { handler(r); }, http2_limits),
      mysql_([handler](Record&& r) { handler(r); }),
      pgsql_([handler](Record&& r) { handler(r); }),
      router_({{http2::ClassifyOpening, &http2_},
               {mysql::ClassifyOpening, &mysql_},
               {pgsql::ClassifyOpening, &pgsql_}},
              &http1_),
      reassembler_(limits, &router_) {}

void Records::add_stats(capture::Stats* s) const {
  http1::TrackerStats t = http1_.stats();
  const http2::Stats& h2 = http2_.stats();
  const mysql::Stats& my = mysql_.stats();
  pgsql::Stats pg = pgsql_.stats();
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

}  // namespace tlstap::protocols
