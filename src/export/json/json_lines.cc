#include "export/json/json_lines.h"

#include <charconv>
#include <chrono>
#include <concepts>
#include <string_view>

#include "export/format.h"
#include "export/json/record_json.h"

namespace tlstap::exporting {
namespace {

// A line under construction: one stream write per event instead of dozens
// of insertions (each takes the stream's sentry; at 64-byte events that was
// half of tlstap's CPU).
class Line {
 public:
  explicit Line(std::string* text) : text_(text) { text_->clear(); }
  Line& operator<<(std::string_view s) {
    text_->append(s);
    return *this;
  }
  template <std::integral T>
  requires(!std::same_as<T, char> && !std::same_as<T, bool>) Line& operator<<(T v) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
    text_->append(buf, end);
    return *this;
  }
  Line& string(std::string_view s) {
    append_json_string(text_, s);
    return *this;
  }
  Line& base64(std::string_view bytes) {
    append_base64(text_, bytes);
    return *this;
  }
  Line& endpoint(const capture::Endpoint& e) {
    std::string s = capture::format_endpoint(e);
    return s.empty() ? *this << "null" : string(s);
  }

 private:
  std::string* text_;
};

uint64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void JsonLinesExporter::on_data(const capture::DataEvent& e) {
  Line line(&line_);
  line << R"({"type":"data","ts_ns":)" << e.ts_ns << R"(,"pid":)" << e.pid << R"(,"tid":)" << e.tid
       << R"(,"comm":)";
  line.string(e.comm);
  if (!e.thread.empty()) {
    line << R"(,"thread":)";
    line.string(e.thread);
  }
  line << R"(,"uid":)" << e.uid << R"(,"cgroup_id":)" << e.cgroup_id << R"(,"lib":")"
       << capture::lib_name(e.lib) << R"(","dir":")" << capture::dir_name(e.dir) << R"(","fd":)"
       << e.fd << R"(,"laddr":)";
  line.endpoint(e.local) << R"(,"raddr":)";
  line.endpoint(e.remote) << R"(,"attribution":")" << capture::attribution_name(e.attribution)
                          << (e.ktls ? R"(","ktls":true,"conn_id":)" : R"(","conn_id":)")
                          << e.conn_id << R"(,"stream_pos":)" << e.stream_pos << R"(,"len":)"
                          << e.len << R"(,"captured":)" << e.data.size();
  if (!e.lost.empty()) {
    line << R"(,"lost":[)";
    for (size_t i = 0; i < e.lost.size(); ++i) {
      line << (i ? ",[" : "[") << e.lost[i].first << "," << e.lost[i].second << "]";
    }
    line << "]";
  }
  line << R"(,"data":")";
  line.base64(e.data) << "\"}\n";
  out_.write(line_.data(), static_cast<std::streamsize>(line_.size()));
  unwritten_.handed(false, e.data.size());
}

void JsonLinesExporter::on_record(const protocols::Record& r) {
  line_.clear();
  append_record_json(&line_, r);
  out_.write(line_.data(), static_cast<std::streamsize>(line_.size()));
  unwritten_.handed(true, 0);
}

void JsonLinesExporter::on_stats(const capture::Stats& s, bool final) {
  out_ << R"({"type":"stats","ts_ns":)" << now_ns() << R"(,"final":)" << (final ? "true" : "false")
       << R"(,"calls":)" << s.calls << R"(,"call_bytes":)" << s.call_bytes << R"(,"events":)"
       << s.events << R"(,"captured_bytes":)" << s.captured_bytes << R"(,"attributed_bytes":)"
       << s.attributed_bytes << R"(,"attributed_share":)" << s.attributed_share()
       << R"(,"targets":)" << s.targets_attached << R"(,"probes":)" << s.probes_attached
       << R"(,"late_attaches":)" << s.late_attaches << R"(,"stale_entries":)" << s.stale_entries
       << R"(,"nested_calls":)" << s.nested_calls << R"(,"lost":{)";
  bool first = true;
  for (const auto& [name, value] : s.lost()) {
    out_ << (first ? "" : ",") << '"' << name << "\":" << value;
    first = false;
  }
  out_ << "}";
  if (s.records_enabled) {
    out_ << R"(,"records":{"http1":)" << s.records << R"(,"http2":)" << s.records_http2
         << R"(,"mysql":)" << s.records_mysql << R"(,"mysql_compressed":)"
         << s.record_mysql_compressed << R"(,"postgres":)" << s.records_postgres
         << R"(,"postgres_db_errors":)" << s.record_postgres_db_errors
         << R"(,"postgres_unmatched":)" << s.record_postgres_unmatched << R"(,"errors":)"
         << s.record_errors << R"(,"parse_errors":)" << s.record_parse_errors << R"(,"gaps":)"
         << s.record_gaps << R"(,"hpack_lost":)" << s.record_hpack_lost << R"(,"overflows":)"
         << s.record_overflows << "}";
  }
  if (s.otlp_enabled) {
    out_ << R"(,"otlp":{"sent":)" << s.otlp_spans_sent << R"(,"dropped":)" << s.otlp_spans_dropped
         << R"(,"failed":)" << s.otlp_spans_failed << R"(,"failed_requests":)"
         << s.otlp_failed_posts << "}";
  }
  out_ << "}\n";
}

}  // namespace tlstap::exporting
