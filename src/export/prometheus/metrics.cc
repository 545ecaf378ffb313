#include "export/prometheus/metrics.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <set>

#include "protocols/mysql/types.h"
#include "protocols/pgsql/types.h"

namespace tlstap::exporting {
namespace {

constexpr std::string_view kMethods[] = {"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                         "CONNECT", "OPTIONS", "TRACE", "PATCH"};
// The command names the database trackers give (protocols::Record::method):
// their own tables of every command byte and message tag, so a label can
// only be one of those.
bool is_command_name(std::string_view proto, std::string_view name) {
  static const std::set<std::string_view> kMysql = [] {
    std::set<std::string_view> names;
    for (int c = 0; c < 256; ++c) names.insert(protocols::mysql::command_name(c));
    return names;
  }();
  static const std::set<std::string_view> kPostgres = [] {
    std::set<std::string_view> names;
    for (int c = 0; c < 256; ++c) names.insert(protocols::pgsql::client_message_name(c));
    return names;
  }();
  return (proto == "mysql" ? kMysql : kPostgres).contains(name);
}

bool is_database(std::string_view proto) { return proto == "mysql" || proto == "postgres"; }

// The shortest text that reads back as v; fixed notation for bucket
// bounds, whose text is a label value queries match ("0.0005", not "5e-04").
std::string number(double v, std::chars_format format = std::chars_format::general) {
  std::array<char, 64> buf;
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v, format);
  return ec == std::errc() ? std::string(buf.data(), end) : "NaN";
}

// The length of the UTF-8 sequence at s[i] if it is a valid one (no
// overlong forms, no surrogates, at most U+10FFFF), else 0.
size_t utf8_sequence(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b = byte(i);
  size_t n;
  unsigned lo = 0x80, hi = 0xbf;  // bounds of the second byte
  if (b >= 0xc2 && b <= 0xdf) {
    n = 2;
  } else if (b >= 0xe0 && b <= 0xef) {
    n = 3;
    if (b == 0xe0) lo = 0xa0;
    if (b == 0xed) hi = 0x9f;
  } else if (b >= 0xf0 && b <= 0xf4) {
    n = 4;
    if (b == 0xf0) lo = 0x90;
    if (b == 0xf4) hi = 0x8f;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xbf) return 0;
  }
  return n;
}

struct Family {
  std::string_view name, type, help;
};

void header(std::string* out, const Family& f) {
  *out += "# HELP ";
  *out += f.name;
  *out += ' ';
  *out += f.help;
  *out += "\n# TYPE ";
  *out += f.name;
  *out += ' ';
  *out += f.type;
  *out += '\n';
}

// name{k1="v1",...} value
void sample(std::string* out, std::string_view name,
            std::initializer_list<std::pair<std::string_view, std::string_view>> labels,
            std::string_view value) {
  *out += name;
  if (labels.size()) {
    *out += '{';
    bool first = true;
    for (const auto& [k, v] : labels) {
      if (!first) *out += ',';
      first = false;
      *out += k;
      *out += "=\"";
      *out += escape_label_value(v);
      *out += '"';
    }
    *out += '}';
  }
  *out += ' ';
  *out += value;
  *out += '\n';
}

void scalar(std::string* out, const Family& f, std::string_view value) {
  header(out, f);
  sample(out, f.name, {}, value);
}

}  // namespace

RecordSample sample_of(const protocols::Record& r) {
  return {.proto = protocols::proto_name(r.proto),
          .method = r.method,
          .status = r.status,
          .comm = r.conn.comm,
          .client = r.client,
          .latency_ns = r.latency_ns};
}

std::string_view metric_method(std::string_view method) {
  if (method.empty()) return "none";
  if (std::find(std::begin(kMethods), std::end(kMethods), method) != std::end(kMethods)) {
    return method;
  }
  return "other";
}

std::string metric_status(int status) {
  if (status == 0) return "none";
  if (status < 100 || status > 599) return "other";
  return std::to_string(status);
}

std::string_view metric_command(std::string_view proto, std::string_view command) {
  if (command.empty()) return "none";
  return is_command_name(proto, command) ? command : "other";
}

std::string_view metric_db_status(int status) {
  if (status == 0) return "none";
  return status == protocols::kDbError ? "error" : "ok";
}

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (size_t i = 0; i < value.size();) {
    const unsigned char c = static_cast<unsigned char>(value[i]);
    if (c == '\\' || c == '"') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c == 0x7f) {
      out += '?';
    } else if (c >= 0x80) {
      size_t n = utf8_sequence(value, i);
      if (n == 0) {
        out += '?';
      } else {
        out.append(value.substr(i, n));
        i += n;
        continue;
      }
    } else {
      out += static_cast<char>(c);
    }
    ++i;
  }
  return out;
}

void Metrics::add(const RecordSample& s) {
  const bool db = is_database(s.proto);
  const std::string method(db ? metric_command(s.proto, s.method) : metric_method(s.method));
  const std::string status(db ? std::string(metric_db_status(s.status)) : metric_status(s.status));
  const std::string side = s.client ? "client" : "server";
  RequestKey key{std::string(s.proto), method, status, s.comm, side};
  std::lock_guard lock(mu_);
  Series& series = db ? db_ : http_;
  auto it = series.requests.find(key);
  if (it == series.requests.end()) {
    if (series.requests.size() >= max_label_sets_) {
      ++series.over_limit;
      return;
    }
    it = series.requests.emplace(std::move(key), 0).first;
  }
  ++it->second;
  if (s.latency_ns == 0) return;
  Histogram& h = series.latencies[LatencyKey{std::string(s.proto), method, s.comm, side}];
  const double seconds = static_cast<double>(s.latency_ns) / 1e9;
  auto bucket = std::lower_bound(std::begin(kLatencyBuckets), std::end(kLatencyBuckets), seconds);
  if (bucket != std::end(kLatencyBuckets)) ++h.buckets[bucket - std::begin(kLatencyBuckets)];
  ++h.count;
  h.sum += seconds;
}

void Metrics::set_stats(const capture::Stats& stats) {
  std::lock_guard lock(mu_);
  stats_ = stats;
}

void Metrics::render(std::string* out, const Series& series, bool db) const {
  const auto u = [](uint64_t v) { return std::to_string(v); };
  const std::string_view what = db ? "command" : "method";
  const Family requests =
      db ? Family{"tlstap_db_queries_total", "counter",
                  "Database commands paired with their responses (records), by protocol, "
                  "command, status (ok, error; none: no response seen), process name and side."}
         : Family{"tlstap_http_requests_total", "counter",
                  "HTTP requests paired with their responses (records), by protocol, "
                  "method, status (none: no response seen), process name and side."};
  header(out, requests);
  for (const auto& [k, n] : series.requests) {
    const auto& [proto, method, status, comm, side] = k;
    sample(out, requests.name,
           {{"proto", proto}, {what, method}, {"status", status}, {"comm", comm}, {"side", side}},
           u(n));
  }

  const Family duration{
      db ? "tlstap_db_query_duration_seconds" : "tlstap_http_request_duration_seconds", "histogram",
      "From the request's first byte to the response's last, of records "
      "where both were seen."};
  header(out, duration);
  const std::string bucket_name = std::string(duration.name) + "_bucket";
  for (const auto& [k, h] : series.latencies) {
    const auto& [proto, method, comm, side] = k;
    uint64_t cumulative = 0;
    for (size_t i = 0; i < std::size(kLatencyBuckets); ++i) {
      cumulative += h.buckets[i];
      const std::string le = number(kLatencyBuckets[i], std::chars_format::fixed);
      sample(out, bucket_name,
             {{"proto", proto}, {what, method}, {"comm", comm}, {"side", side}, {"le", le}},
             u(cumulative));
    }
    sample(out, bucket_name,
           {{"proto", proto}, {what, method}, {"comm", comm}, {"side", side}, {"le", "+Inf"}},
           u(h.count));
    sample(out, std::string(duration.name) + "_sum",
           {{"proto", proto}, {what, method}, {"comm", comm}, {"side", side}}, number(h.sum));
    sample(out, std::string(duration.name) + "_count",
           {{"proto", proto}, {what, method}, {"comm", comm}, {"side", side}}, u(h.count));
  }

  scalar(out,
         {db ? "tlstap_db_queries_over_label_limit_total"
             : "tlstap_http_requests_over_label_limit_total",
          "counter",
          std::string("Records left out of ") + std::string(requests.name) +
              " because it already had " + std::to_string(max_label_sets_) + " label sets."},
         u(series.over_limit));
}

std::string Metrics::render() const {
  std::lock_guard lock(mu_);
  std::string out;
  const auto u = [](uint64_t v) { return std::to_string(v); };
  render(&out, http_, /*db=*/false);
  render(&out, db_, /*db=*/true);

  const capture::Stats& s = stats_;
  const Family records{"tlstap_records_total", "counter",
                       "Request/response pairs made by the protocol parsers."};
  header(&out, records);
  sample(&out, records.name, {{"proto", "http1"}}, u(s.records));
  sample(&out, records.name, {{"proto", "http2"}}, u(s.records_http2));
  sample(&out, records.name, {{"proto", "mysql"}}, u(s.records_mysql));
  sample(&out, records.name, {{"proto", "postgres"}}, u(s.records_postgres));
  scalar(&out, {"tlstap_record_errors_total", "counter", "Records that are not whole pairs."},
         u(s.record_errors));
  scalar(&out,
         {"tlstap_record_parse_errors_total", "counter",
          "Times bytes were not the protocol where a message was expected."},
         u(s.record_parse_errors));
  scalar(&out,
         {"tlstap_record_gaps_total", "counter", "Gaps (bytes never captured) in parsed streams."},
         u(s.record_gaps));
  if (s.otlp_enabled) {
    const Family spans{"tlstap_otlp_spans_total", "counter",
                       "Spans for --otlp: sent, dropped (queue full or left at exit), failed "
                       "(their POST failed)."};
    header(&out, spans);
    sample(&out, spans.name, {{"result", "sent"}}, u(s.otlp_spans_sent));
    sample(&out, spans.name, {{"result", "dropped"}}, u(s.otlp_spans_dropped));
    sample(&out, spans.name, {{"result", "failed"}}, u(s.otlp_spans_failed));
  }
  scalar(&out, {"tlstap_calls_total", "counter", "TLS calls seen by the probes."}, u(s.calls));
  scalar(&out, {"tlstap_call_bytes_total", "counter", "Bytes the TLS calls transferred."},
         u(s.call_bytes));
  scalar(&out, {"tlstap_events_total", "counter", "Data events delivered to user space."},
         u(s.events));
  scalar(&out, {"tlstap_captured_bytes_total", "counter", "Bytes captured."}, u(s.captured_bytes));
  scalar(&out,
         {"tlstap_attributed_bytes_total", "counter", "Captured bytes attributed to a socket."},
         u(s.attributed_bytes));
  scalar(&out,
         {"tlstap_captured_bytes_ratio", "gauge",
          "Captured bytes over bytes the TLS calls transferred (1 when none)."},
         number(s.captured_share()));
  scalar(&out,
         {"tlstap_attributed_bytes_ratio", "gauge",
          "Attributed bytes over captured bytes (1 when none)."},
         number(s.attributed_share()));
  // Stats::lost() names each cause with its unit: "_bytes" causes count
  // bytes, the others calls, records or sessions (the name says which).
  const Family lost_bytes{"tlstap_lost_bytes_total", "counter", "Bytes lost, by cause."};
  const Family lost{"tlstap_lost_total", "counter",
                    "Calls, records or sessions lost, by cause (the cause names the unit)."};
  const auto losses = s.lost();
  header(&out, lost_bytes);
  for (const auto& [cause, n] : losses) {
    if (cause.ends_with("_bytes")) {
      sample(&out, lost_bytes.name, {{"cause", cause.substr(0, cause.size() - 6)}}, u(n));
    }
  }
  header(&out, lost);
  for (const auto& [cause, n] : losses) {
    if (!cause.ends_with("_bytes")) sample(&out, lost.name, {{"cause", cause}}, u(n));
  }
  scalar(&out,
         {"tlstap_late_attaches_total", "counter",
          "Libraries attached after a running process had loaded them."},
         u(s.late_attaches));
  scalar(&out,
         {"tlstap_targets_attached", "gauge", "TLS libraries and programs with probes attached."},
         std::to_string(s.targets_attached));
  scalar(&out, {"tlstap_probes_attached", "gauge", "Probes attached."},
         std::to_string(s.probes_attached));
  return out;
}

}  // namespace tlstap::exporting
