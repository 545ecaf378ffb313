// --records: the engine's DataEvents reassembled per connection
// (streams::Reassembler), sent by a Router to HTTP/2
// (http2::Tracker) when a connection opens with the HTTP/2 preface or a
// server's SETTINGS frame, to MySQL (mysql::Tracker) when it opens with a
// client's HandshakeResponse41 (or a whole command), to PostgreSQL
// (pgsql::Tracker) when it opens with a StartupMessage or a server's
// Authentication, else to HTTP/1 (http1::Tracker); each
// request/response pair goes to the engine's handler the moment both are
// whole (engine/engine.h hands it to every sink that takes records).
#pragma once

#include <cstdint>
#include <functional>

#include "capture/events.h"
#include "capture/stats.h"
#include "protocols/http1/tracker.h"
#include "protocols/http2/tracker.h"
#include "protocols/mysql/tracker.h"
#include "protocols/pgsql/tracker.h"
#include "protocols/router.h"
#include "streams/reassembler.h"

namespace tlstap::protocols {

class Records {
 public:
  // Where each record goes.
  using Handler = std::function<void(const Record&)>;
  explicit Records(Handler handler, streams::Limits limits = {}, http2::Limits http2_limits = {});
  Records(const Records&) = delete;
  Records& operator=(const Records&) = delete;

  void add(const capture::DataEvent& event) { reassembler_.add(event); }
  // The TLS session conn_id ended: what it held is parsed and paired now (a
  // body delimited by the close ends here).
  void close(uint64_t conn_id) { reassembler_.close(conn_id); }
  // Gives up holes too old to be filled and closes idle connections (their
  // last messages become records), at now_ns (CLOCK_REALTIME, as events).
  void expire(uint64_t now_ns) { reassembler_.expire(now_ns); }
  // At exit: every connection closed, what each held parsed and paired, so
  // the last requests show up (with "no response" if none came).
  void close_all() { reassembler_.close_all(); }
  // Fills the record counters of *s.
  void add_stats(capture::Stats* s) const;

 private:
  // Declared in the order they are fed: each is built before what feeds it.
  http1::Tracker http1_;
  http2::Tracker http2_;
  mysql::Tracker mysql_;
  pgsql::Tracker pgsql_;
  Router router_;
  streams::Reassembler reassembler_;
};

}  // namespace tlstap::protocols
