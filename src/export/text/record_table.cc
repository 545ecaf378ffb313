#include "export/text/record_table.h"

#include <cstdio>

#include "export/format.h"
#include "export/text/table.h"

namespace tlstap::exporting {
namespace {

constexpr const char* kRecordRow = "%-15s %-15s %7s %-47s %-8s %6s %9s %9s %9s %s\n";
// Targets longer than this are cut (a query string can run to kilobytes).
constexpr size_t kMaxTarget = 120;

}  // namespace

std::string format_record_header() {
  char line[256];
  snprintf(line, sizeof(line), kRecordRow, "TIME", "COMM", "PID", "CONNECTION", "PROTO", "STATUS",
           "LATENCY", "REQ", "RESP", "REQUEST");
  return line;
}

std::string format_record_connection(const protocols::Record& r) {
  const streams::ConnInfo& c = r.conn;
  if (c.fd < 0 && c.local.family == 0) return "unattributed";
  std::string s = "fd " + std::to_string(c.fd);
  std::string local = capture::format_endpoint(c.local);
  std::string remote = capture::format_endpoint(c.remote);
  if (local.empty()) return s;
  if (remote.empty() || local == "unix") return s + " " + local;
  return s + " " + local + (r.client ? " > " : " < ") + remote;
}

std::string format_latency(uint64_t ns) {
  if (ns == 0) return "-";
  char buf[32];
  if (ns < 1'000'000) {
    snprintf(buf, sizeof(buf), "%lluus", static_cast<unsigned long long>(ns / 1000));
  } else if (ns < 1'000'000'000) {
    snprintf(buf, sizeof(buf), "%.3fms", static_cast<double>(ns) / 1e6);
  } else {
    snprintf(buf, sizeof(buf), "%.3fs", static_cast<double>(ns) / 1e9);
  }
  return buf;
}

namespace {

// HTTP: the status code; databases: ok or error.
std::string status_column(const protocols::Record& r) {
  if (r.status == 0) return "-";
  if (r.proto == protocols::Proto::kMysql || r.proto == protocols::Proto::kPostgres) {
    return r.status == protocols::kDbError ? "error" : "ok";
  }
  return std::to_string(r.status);
}

}  // namespace

std::string format_record_row(const protocols::Record& r, bool utc) {
  const bool has_request = !r.method.empty();
  const bool has_response = r.status != 0;
  std::string request;
  if (has_request) {
    std::string target = printable(r.target);
    if (target.size() > kMaxTarget) target = target.substr(0, kMaxTarget) + "...";
    request = printable(r.method) + " " + target;
  } else {
    request = "-";
  }
  if (r.grpc_status >= 0) request += " grpc-status=" + std::to_string(r.grpc_status);
  if (r.rows >= 0) request += " rows=" + std::to_string(r.rows);
  if (!r.db_error_code.empty() || !r.db_error_message.empty()) {
    request += " error " + printable(r.db_error_code) + ": " + printable(r.db_error_message);
  }
  if (!r.error.empty()) request += " [" + r.error + "]";
  std::string line(512 + request.size(), '\0');
  int n = snprintf(line.data(), line.size(), kRecordRow, format_time(r.ts_ns, utc).c_str(),
                   printable(r.conn.comm).c_str(), std::to_string(r.conn.pid).c_str(),
                   format_record_connection(r).c_str(),
                   std::string(protocols::proto_name(r.proto)).c_str(), status_column(r).c_str(),
                   format_latency(r.latency_ns).c_str(),
                   has_request ? human_bytes(r.request_bytes).c_str() : "-",
                   has_response ? human_bytes(r.response_bytes).c_str() : "-", request.c_str());
  line.resize(static_cast<size_t>(n) < line.size() ? n : line.size() - 1);
  return line;
}

}  // namespace tlstap::exporting
