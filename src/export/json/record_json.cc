#include "export/json/record_json.h"

#include <charconv>
#include <concepts>

#include "export/format.h"

namespace tlstap::exporting {
namespace {

template <std::integral T>
void append_number(std::string* out, T v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, end);
}

void append_endpoint(std::string* out, const capture::Endpoint& e) {
  std::string s = capture::format_endpoint(e);
  if (s.empty()) {
    out->append("null");
  } else {
    append_json_string(out, s);
  }
}

}  // namespace

void append_record_json(std::string* out, const protocols::Record& r) {
  const streams::ConnInfo& c = r.conn;
  out->append(R"({"type":"record","proto":")");
  out->append(protocols::proto_name(r.proto));
  out->append(R"(","ts_ns":)");
  append_number(out, r.ts_ns);
  out->append(R"(,"pid":)");
  append_number(out, c.pid);
  out->append(R"(,"comm":)");
  append_json_string(out, c.comm);
  out->append(R"(,"lib":")");
  out->append(capture::lib_name(c.lib));
  out->append(r.client ? R"(","side":"client","fd":)" : R"(","side":"server","fd":)");
  append_number(out, c.fd);
  out->append(R"(,"laddr":)");
  append_endpoint(out, c.local);
  out->append(R"(,"raddr":)");
  append_endpoint(out, c.remote);
  out->append(R"(,"conn_id":)");
  append_number(out, c.conn_id);
  out->append(R"(,"method":)");
  append_json_string(out, r.method);
  out->append(R"(,"target":)");
  append_json_string(out, r.target);
  out->append(R"(,"host":)");
  append_json_string(out, r.host);
  out->append(R"(,"status":)");
  append_number(out, r.status);
  out->append(R"(,"latency_ns":)");
  append_number(out, r.latency_ns);
  out->append(R"(,"request_bytes":)");
  append_number(out, r.request_bytes);
  out->append(R"(,"response_bytes":)");
  append_number(out, r.response_bytes);
  out->append(R"(,"request_body_bytes":)");
  append_number(out, r.request_body_bytes);
  out->append(R"(,"response_body_bytes":)");
  append_number(out, r.response_body_bytes);
  if (r.proto == protocols::Proto::kHttp2) {
    out->append(R"(,"stream_id":)");
    append_number(out, r.stream_id);
  }
  if (r.grpc_status >= 0) {
    out->append(R"(,"grpc_status":)");
    append_number(out, r.grpc_status);
    out->append(R"(,"grpc_message":)");
    append_json_string(out, r.grpc_message);
  }
  if (r.rows >= 0) {
    out->append(R"(,"rows":)");
    append_number(out, r.rows);
  }
  if (!r.db_error_code.empty() || !r.db_error_message.empty()) {
    out->append(R"(,"db_error_code":)");
    append_json_string(out, r.db_error_code);
    out->append(R"(,"db_error_message":)");
    append_json_string(out, r.db_error_message);
  }
  if (!r.error.empty()) {
    out->append(R"(,"error":)");
    append_json_string(out, r.error);
  }
  out->append("}\n");
}

}  // namespace tlstap::exporting
