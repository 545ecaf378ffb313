// An OTLP/HTTP trace receiver for the bpf tier (Debian 12 packages no
// OpenTelemetry Collector): civetweb on 127.0.0.1 keeps every POST and
// answers 200, and helpers read spans back out of the JSON bodies. Tests
// that include it link civetweb (tests/bpf/CMakeLists.txt).
#pragma once

#include <civetweb.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace tlstap::bpf_test {

// One POST as the receiver got it.
struct Post {
  std::string method, uri, content_type;
  nlohmann::json body;  // discarded when not JSON
};

// OTLP/HTTP's trace endpoint, as a Collector's otlp receiver: takes any
// POST, keeps it, answers 200 with an empty ExportTraceServiceResponse.
class OtlpReceiver {
 public:
  explicit OtlpReceiver(int port) {
    const std::string ports = "127.0.0.1:" + std::to_string(port);
    const char* options[] = {"listening_ports", ports.c_str(), "num_threads", "2", nullptr};
    mg_init_library(0);
    ctx_ = mg_start(nullptr, nullptr, options);
    if (ctx_) mg_set_request_handler(ctx_, "/", &OtlpReceiver::Handle, this);
  }
  ~OtlpReceiver() {
    if (ctx_) mg_stop(ctx_);
  }
  bool ok() const { return ctx_ != nullptr; }

  std::vector<Post> Posts() const {
    std::lock_guard lock(mu_);
    return posts_;
  }

 private:
  static int Handle(mg_connection* conn, void* self) {
    const mg_request_info* info = mg_get_request_info(conn);
    Post post;
    post.method = info->request_method;
    post.uri = info->local_uri ? info->local_uri : "";
    const char* type = mg_get_header(conn, "Content-Type");
    post.content_type = type ? type : "";
    std::string body;
    char buf[8192];
    for (int n; (n = mg_read(conn, buf, sizeof(buf))) > 0;) body.append(buf, n);
    post.body = nlohmann::json::parse(body, nullptr, false);
    {
      auto* receiver = static_cast<OtlpReceiver*>(self);
      std::lock_guard lock(receiver->mu_);
      receiver->posts_.push_back(std::move(post));
    }
    mg_send_http_ok(conn, "application/json", 2);
    mg_write(conn, "{}", 2);
    return 200;
  }

  mg_context* ctx_ = nullptr;
  mutable std::mutex mu_;
  std::vector<Post> posts_;
};

// A span with its resource's attributes.
struct ReceivedSpan {
  nlohmann::json span;
  std::map<std::string, nlohmann::json> resource, attributes;
  std::string scope_name, scope_version;
};

inline std::map<std::string, nlohmann::json> AttributeMap(const nlohmann::json& list) {
  std::map<std::string, nlohmann::json> out;
  for (const nlohmann::json& a : list) out[a.at("key").get<std::string>()] = a.at("value");
  return out;
}

inline std::vector<ReceivedSpan> SpansOf(const std::vector<Post>& posts) {
  std::vector<ReceivedSpan> out;
  for (const Post& p : posts) {
    if (p.body.is_discarded()) continue;
    for (const nlohmann::json& rs : p.body.value("resourceSpans", nlohmann::json::array())) {
      auto resource = AttributeMap(rs["resource"]["attributes"]);
      for (const nlohmann::json& ss : rs["scopeSpans"]) {
        for (const nlohmann::json& span : ss["spans"]) {
          out.push_back({span, resource, AttributeMap(span["attributes"]),
                         ss["scope"].value("name", ""), ss["scope"].value("version", "")});
        }
      }
    }
  }
  return out;
}

inline std::string Describe(const std::vector<Post>& posts) {
  std::string out;
  for (const Post& p : posts) {
    out += "\n" + p.method + " " + p.uri + " (" + p.content_type + ") " +
           (p.body.is_discarded() ? "(not JSON)" : p.body.dump());
  }
  return out.empty() ? " none" : out;
}

inline bool LowerHex(const std::string& s, size_t len) {
  return s.size() == len &&
         std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }) &&
         s != std::string(len, '0');
}

using Attributes = std::map<std::string, nlohmann::json>;

// An attribute's stringValue or intValue, "<none>" when absent.
inline std::string StrAttr(const Attributes& a, const std::string& key) {
  auto it = a.find(key);
  return it == a.end() ? "<none>" : it->second.value("stringValue", "<none>");
}
inline std::string IntAttr(const Attributes& a, const std::string& key) {
  auto it = a.find(key);
  return it == a.end() ? "<none>" : it->second.value("intValue", "<none>");
}

inline std::string HostName() {
  char name[256] = {};
  gethostname(name, sizeof(name) - 1);
  return name;
}

}  // namespace tlstap::bpf_test
