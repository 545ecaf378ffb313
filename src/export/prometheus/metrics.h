// --metrics: request counts and latencies from protocol records, and
// tlstap's own health from its statistics, rendered in the Prometheus text
// exposition format (0.0.4). Written by the engine's thread (records as they
// come, statistics once a tick), read by the HTTP server's threads: every
// member is behind one mutex, and render() copies nothing it does not print.
//
// No payload byte ever becomes a label: an HTTP record contributes its
// protocol, its method (one of the standard methods, else "other"), its
// status code, its process's command name and its side, never its target,
// host or any header; a database record (MySQL, PostgreSQL) its protocol,
// its command (one of the protocol's command names, else "other"), ok or
// error, command name and side, never its statement or error message.
// Label sets are capped; records past the cap are counted apart.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "capture/stats.h"
#include "export/sink.h"
#include "protocols/record.h"

namespace tlstap::exporting {

// What metrics take from one record, whatever its protocol: the one place
// that knows the record types (sample_of below).
struct RecordSample {
  std::string_view proto;  // "http1", "http2", "mysql", "postgres"
  std::string method;      // as sent; bounded by metric_method() or metric_command()
  int status = 0;          // 0: no response seen; databases: protocols::kDbOk or kDbError
  std::string comm;
  bool client = true;
  uint64_t latency_ns = 0;  // 0: a side of the pair is missing
};

RecordSample sample_of(const protocols::Record& r);

// A method label: the standard methods as they are, "other" for any other
// token (a client may send anything there), "none" when no request was seen.
std::string_view metric_method(std::string_view method);
// A status label: "100".."599", "none" when no response was seen, "other".
std::string metric_status(int status);
// A database command label: one of the names the proto's tracker gives
// (MySQL's COM_*, PostgreSQL's message names and "Startup"), "other" for
// anything else, "none" when no command was seen.
std::string_view metric_command(std::string_view proto, std::string_view command);
// A database status label: "ok", "error", "none" when no response was seen.
std::string_view metric_db_status(int status);
// A label value escaped for the text format (backslash, double quote,
// newline), with bytes that are not UTF-8 or are control characters
// replaced by '?': Prometheus rejects a scrape that is not UTF-8.
std::string escape_label_value(std::string_view value);

// Histogram upper bounds of tlstap_http_request_duration_seconds.
inline constexpr double kLatencyBuckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                             0.1,    0.25,  0.5,    1,     2.5,  5,     10};
// Distinct label sets of tlstap_http_requests_total (and apart, of
// tlstap_db_queries_total) kept by default.
inline constexpr size_t kDefaultMaxLabelSets = 1000;

// A Sink (--metrics): records are counted, statistics copied once a
// second; the HTTP server's threads render them (Metrics locks).
class Metrics : public Sink {
 public:
  explicit Metrics(size_t max_label_sets = kDefaultMaxLabelSets)
      : max_label_sets_(max_label_sets) {}
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  Takes takes() const override { return {.records = true}; }
  void on_record(const protocols::Record& r) override { add(r); }
  std::optional<std::chrono::seconds> stats_period() const override {
    return std::chrono::seconds(1);  // the counters' age at a scrape
  }
  void on_stats(const capture::Stats& stats, bool) override { set_stats(stats); }

  void add(const RecordSample& s);
  void add(const protocols::Record& r) { add(sample_of(r)); }
  // The latest statistics (copied).
  void set_stats(const capture::Stats& stats);
  // Everything, in the text exposition format, families in a fixed order
  // and series sorted by labels.
  std::string render() const;

 private:
  // proto, method (databases: command), status, comm, side
  using RequestKey = std::tuple<std::string, std::string, std::string, std::string, std::string>;
  // proto, method, comm, side
  using LatencyKey = std::tuple<std::string, std::string, std::string, std::string>;
  struct Histogram {
    uint64_t buckets[std::size(kLatencyBuckets)] = {};  // not cumulative
    uint64_t count = 0;
    double sum = 0;
  };

  const size_t max_label_sets_;
  mutable std::mutex mu_;
  // One family's counts and latencies: HTTP requests, database queries.
  struct Series {
    std::map<RequestKey, uint64_t> requests;
    std::map<LatencyKey, Histogram> latencies;
    uint64_t over_limit = 0;
  };
  void render(std::string* out, const Series& series, bool db) const;

  Series http_, db_;
  capture::Stats stats_;  // zeros until the first set_stats
};

}  // namespace tlstap::exporting
