#include "export/otlp/spans.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string_view>

namespace tlstap::exporting::otlp {
namespace {

// Object keys keep the order they are written in: the spec's order, which
// makes the output readable (and the golden tests with it).
using Json = nlohmann::ordered_json;

// OTLP SpanKind and StatusCode values.
constexpr int kSpanKindServer = 2;
constexpr int kSpanKindClient = 3;
constexpr int kStatusError = 2;

std::string hex(const uint8_t* bytes, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    out += kDigits[bytes[i] >> 4];
    out += kDigits[bytes[i] & 0xf];
  }
  return out;
}

Json string_attribute(std::string_view key, std::string_view value) {
  return {{"key", key}, {"value", {{"stringValue", value}}}};
}

// int64 values are decimal strings in OTLP JSON (protobuf's JSON mapping).
Json int_attribute(std::string_view key, int64_t value) {
  return {{"key", key}, {"value", {{"intValue", std::to_string(value)}}}};
}

// The numeric address of an endpoint, IPv6 without brackets (as
// server.address and client.address want it); "" when unknown.
std::string address_of(const capture::Endpoint& e) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (e.family != AF_INET && e.family != AF_INET6) return "";
  inet_ntop(e.family, e.addr.data(), buf, sizeof(buf));
  return buf;
}

struct HostPort {
  std::string host;
  std::optional<int> port;
};

// A Host header or :authority: "name", "name:port", "[v6]:port".
HostPort split_host(std::string_view host) {
  HostPort out;
  size_t colon = host.rfind(':');
  if (colon != std::string_view::npos && host.find(']', colon) == std::string_view::npos) {
    int port = 0;
    std::string_view digits = host.substr(colon + 1);
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
    if (ec == std::errc() && ptr == digits.data() + digits.size() && !digits.empty() && port > 0 &&
        port < 65536) {
      out.port = port;
      host = host.substr(0, colon);
    }
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  out.host = std::string(host);
  return out;
}

bool is_http(const protocols::Record& r) {
  return r.proto == protocols::Proto::kHttp1 || r.proto == protocols::Proto::kHttp2;
}

// The methods the HTTP conventions name; any other is "_OTHER".
bool known_method(std::string_view method) {
  static constexpr std::string_view kKnown[] = {"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                                "CONNECT", "OPTIONS", "TRACE", "PATCH"};
  return std::find(std::begin(kKnown), std::end(kKnown), method) != std::end(kKnown);
}

// The server's end of the connection: the peer on the client's side.
const capture::Endpoint& server_end(const protocols::Record& r) {
  return r.client ? r.conn.remote : r.conn.local;
}

void add_server_and_client(const protocols::Record& r, Json* attributes, HostPort* server) {
  if (server->host.empty()) server->host = address_of(server_end(r));
  if (!server->port && server_end(r).port != 0) server->port = server_end(r).port;
  if (!server->host.empty())
    attributes->push_back(string_attribute("server.address", server->host));
  if (server->port) attributes->push_back(int_attribute("server.port", *server->port));
  if (!r.client) {
    const std::string client = address_of(r.conn.remote);
    if (!client.empty()) {
      attributes->push_back(string_attribute("client.address", client));
      attributes->push_back(int_attribute("client.port", r.conn.remote.port));
    }
  }
}

// HTTP spans: the stable HTTP semantic conventions (v1.2x). The status is
// an error for 5xx, and on the client also for 4xx.
void add_http(const protocols::Record& r, Json* attributes, Json* status) {
  if (!r.method.empty()) {
    if (known_method(r.method)) {
      attributes->push_back(string_attribute("http.request.method", r.method));
    } else {
      attributes->push_back(string_attribute("http.request.method", "_OTHER"));
      attributes->push_back(string_attribute("http.request.method_original", r.method));
    }
  }
  if (r.status > 0) attributes->push_back(int_attribute("http.response.status_code", r.status));
  // Every record came through TLS.
  attributes->push_back(string_attribute("url.scheme", "https"));
  if (!r.target.empty()) {
    const size_t q = r.target.find('?');
    attributes->push_back(string_attribute("url.path", r.target.substr(0, q)));
    if (q != std::string::npos) {
      attributes->push_back(string_attribute("url.query", r.target.substr(q + 1)));
    }
  }
  HostPort server = split_host(r.host);
  add_server_and_client(r, attributes, &server);
  if (r.client && !r.target.empty() && !server.host.empty()) {
    const bool v6 = server.host.find(':') != std::string::npos;
    std::string full = "https://" + (v6 ? "[" + server.host + "]" : server.host);
    if (server.port && *server.port != 443) full += ":" + std::to_string(*server.port);
    attributes->push_back(string_attribute("url.full", full + r.target));
  }
  attributes->push_back(string_attribute("network.protocol.name", "http"));
  attributes->push_back(string_attribute("network.protocol.version",
                                         r.proto == protocols::Proto::kHttp2 ? "2" : "1.1"));
  if (r.grpc_status >= 0)
    attributes->push_back(int_attribute("rpc.grpc.status_code", r.grpc_status));
  if (r.status >= 500 || (r.client && r.status >= 400)) {
    attributes->push_back(string_attribute("error.type", std::to_string(r.status)));
    *status = {{"message", "HTTP " + std::to_string(r.status)}, {"code", kStatusError}};
  }
}

// Database spans: the database semantic conventions (v1.2x); a server
// error is the span's error, its code error.type.
void add_db(const protocols::Record& r, Json* attributes, Json* status) {
  attributes->push_back(
      string_attribute("db.system", r.proto == protocols::Proto::kMysql ? "mysql" : "postgresql"));
  if (!r.method.empty()) attributes->push_back(string_attribute("db.operation.name", r.method));
  if (!r.target.empty()) attributes->push_back(string_attribute("db.query.text", r.target));
  if (r.rows >= 0) attributes->push_back(int_attribute("db.response.returned_rows", r.rows));
  if (!r.db_error_code.empty()) {
    attributes->push_back(string_attribute("db.response.status_code", r.db_error_code));
  }
  HostPort server;
  add_server_and_client(r, attributes, &server);
  if (r.status == protocols::kDbError) {
    attributes->push_back(string_attribute(
        "error.type", r.db_error_code.empty() ? std::string("_OTHER") : r.db_error_code));
    *status = {{"message", r.db_error_message}, {"code", kStatusError}};
  }
}

Json span_json(const Span& s) {
  const protocols::Record& r = s.record;
  Json span = {
      {"traceId", hex(s.ids.trace_id.data(), s.ids.trace_id.size())},
      {"spanId", hex(s.ids.span_id.data(), s.ids.span_id.size())},
      {"name", span_name(r)},
      {"kind", r.client ? kSpanKindClient : kSpanKindServer},
      {"startTimeUnixNano", std::to_string(r.ts_ns)},
      {"endTimeUnixNano", std::to_string(r.ts_ns + r.latency_ns)},
  };
  Json attributes = Json::array();
  Json status;  // null unless an error
  if (is_http(r)) {
    add_http(r, &attributes, &status);
  } else {
    add_db(r, &attributes, &status);
  }
  // Why the pair is not whole ("no response", ...): a capture's limit, not
  // the application's error.
  if (!r.error.empty()) attributes.push_back(string_attribute("tlstap.error", r.error));
  span["attributes"] = std::move(attributes);
  if (!status.is_null()) span["status"] = std::move(status);
  return span;
}

Json resource_json(const Span& first, const Origin& origin) {
  const streams::ConnInfo& c = first.record.conn;
  Json attributes = Json::array();
  attributes.push_back(string_attribute("service.name", c.comm));
  attributes.push_back(int_attribute("process.pid", c.pid));
  attributes.push_back(string_attribute("process.executable.name",
                                        first.executable.empty() ? c.comm : first.executable));
  attributes.push_back(string_attribute("host.name", origin.host_name));
  return {{"attributes", std::move(attributes)}};
}

}  // namespace

IdGenerator::IdGenerator() {
  std::random_device device;
  for (uint64_t& s : state_) {
    s = (static_cast<uint64_t>(device()) << 32) ^ device();
    if (s == 0) s = 0x9e3779b97f4a7c15ull;
  }
}

SpanIds IdGenerator::next() {
  // xorshift128+: fast, and never all zero after a non-zero seed... but
  // its outputs can be; an all-zero id is redrawn.
  auto draw = [this] {
    uint64_t s1 = state_[0];
    const uint64_t s0 = state_[1];
    state_[0] = s0;
    s1 ^= s1 << 23;
    state_[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
    return state_[1] + s0;
  };
  SpanIds ids;
  auto fill = [&draw](uint8_t* out, size_t n) {
    for (bool zero = true; zero;) {
      zero = true;
      for (size_t i = 0; i < n; i += 8) {
        const uint64_t v = draw();
        for (size_t b = 0; b < 8 && i + b < n; ++b) {
          out[i + b] = static_cast<uint8_t>(v >> (8 * b));
          zero = zero && out[i + b] == 0;
        }
      }
    }
  };
  fill(ids.trace_id.data(), ids.trace_id.size());
  fill(ids.span_id.data(), ids.span_id.size());
  return ids;
}

std::string span_name(const protocols::Record& r) {
  if (is_http(r)) {
    if (r.method.empty()) return "HTTP";
    return known_method(r.method) ? r.method : "HTTP";
  }
  if (!r.method.empty()) return r.method;
  return r.proto == protocols::Proto::kMysql ? "mysql" : "postgresql";
}

std::string encode_traces(const std::vector<Span>& spans, const Origin& origin) {
  // One resourceSpans per process, in the order of its first span.
  std::vector<std::pair<pid_t, std::vector<const Span*>>> by_process;
  for (const Span& s : spans) {
    auto it = std::find_if(by_process.begin(), by_process.end(),
                           [&s](const auto& p) { return p.first == s.record.conn.pid; });
    if (it == by_process.end()) {
      by_process.push_back({s.record.conn.pid, {}});
      it = by_process.end() - 1;
    }
    it->second.push_back(&s);
  }
  Json resource_spans = Json::array();
  for (const auto& [pid, members] : by_process) {
    Json span_list = Json::array();
    for (const Span* s : members) span_list.push_back(span_json(*s));
    resource_spans.push_back(
        {{"resource", resource_json(*members.front(), origin)},
         {"scopeSpans",
          Json::array({{{"scope", {{"name", "tlstap"}, {"version", origin.scope_version}}},
                        {"spans", std::move(span_list)}}})}});
  }
  Json body = {{"resourceSpans", std::move(resource_spans)}};
  // Targets and statements are whatever the program sent: bytes that are
  // not UTF-8 become U+FFFD rather than an invalid body.
  return body.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace tlstap::exporting::otlp
