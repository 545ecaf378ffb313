#include "export/json/json_lines.h"

#include <chrono>

#include "export/format.h"

namespace tlstap::exporting {
namespace {

void write_endpoint(std::ostream& out, const capture::Endpoint& e) {
  std::string s = capture::format_endpoint(e);
  if (s.empty()) {
    out << "null";
  } else {
    write_json_string(out, s);
  }
}

uint64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void JsonLinesExporter::on_data(const capture::DataEvent& e) {
  out_ << R"({"type":"data","ts_ns":)" << e.ts_ns << R"(,"pid":)" << e.pid << R"(,"tid":)" << e.tid
       << R"(,"comm":)";
  write_json_string(out_, e.comm);
  out_ << R"(,"uid":)" << e.uid << R"(,"cgroup_id":)" << e.cgroup_id << R"(,"lib":")"
       << capture::lib_name(e.lib) << R"(","dir":")" << capture::dir_name(e.dir) << R"(","fd":)"
       << e.fd << R"(,"laddr":)";
  write_endpoint(out_, e.local);
  out_ << R"(,"raddr":)";
  write_endpoint(out_, e.remote);
  out_ << R"(,"attribution":")" << capture::attribution_name(e.attribution) << R"(","conn_id":)"
       << e.conn_id << R"(,"stream_pos":)" << e.stream_pos << R"(,"len":)" << e.len
       << R"(,"captured":)" << e.data.size();
  if (!e.lost.empty()) {
    out_ << R"(,"lost":[)";
    for (size_t i = 0; i < e.lost.size(); ++i) {
      out_ << (i ? "," : "") << '[' << e.lost[i].first << ',' << e.lost[i].second << ']';
    }
    out_ << ']';
  }
  base64_into(e.data, &base64_);
  out_ << R"(,"data":")" << base64_ << "\"}\n";
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
  out_ << "}}\n";
}

}  // namespace tlstap::exporting
