#include "export/prometheus/server.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>

namespace tlstap::exporting {
namespace {

constexpr char kContentType[] = "text/plain; version=0.0.4; charset=utf-8";

std::unexpected<Error> bad_address(std::string_view text) {
  return fail(ExitCode::kUsage,
              "--metrics takes [ADDR:]PORT, ADDR a numeric IPv4 address or "
              "[IPv6] address, PORT 1 to 65535 (got \"" +
                  std::string(text) + "\")");
}

// One connection to the server, closed at once: wakes civetweb's listening
// thread from its poll.
void poke(const MetricsAddress& a) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, a.host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(a.port);
    len = sizeof(*v4);
  } else if (inet_pton(AF_INET6, a.host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(a.port);
    len = sizeof(*v6);
  } else {
    return;
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
  close(fd);
}

}  // namespace

Result<MetricsAddress> parse_metrics_address(std::string_view text) {
  MetricsAddress a;
  std::string_view port = text;
  if (text.starts_with('[')) {
    size_t close = text.find("]:");
    if (close == std::string_view::npos) return bad_address(text);
    a.host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    in6_addr v6;
    if (inet_pton(AF_INET6, a.host.c_str(), &v6) != 1) return bad_address(text);
  } else if (size_t colon = text.rfind(':'); colon != std::string_view::npos) {
    a.host = text.substr(0, colon);
    port = text.substr(colon + 1);
    in_addr v4;
    if (inet_pton(AF_INET, a.host.c_str(), &v4) != 1) return bad_address(text);
  }
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), a.port);
  if (ec != std::errc() || end != port.data() + port.size() || port.empty() || a.port < 1 ||
      a.port > 65535) {
    return bad_address(text);
  }
  return a;
}

std::string format_metrics_address(const MetricsAddress& a) {
  const bool v6 = a.host.find(':') != std::string::npos;
  return (v6 ? "[" + a.host + "]" : a.host) + ":" + std::to_string(a.port);
}

Result<std::unique_ptr<MetricsServer>> MetricsServer::make(const MetricsAddress& address,
                                                           const Metrics& metrics) {
  static std::once_flag library;
  std::call_once(library, [] { mg_init_library(0); });
  const std::string where = format_metrics_address(address);
  if (address.host.find(':') != std::string::npos && !mg_check_feature(8)) {
    return fail(ExitCode::kMetricsAddress,
                "--metrics " + where + ": this civetweb was built without IPv6");
  }
  std::unique_ptr<MetricsServer> server(new MetricsServer(address, metrics));
  const std::string ports = where;
  const char* options[] = {
      "listening_ports", ports.c_str(),       "num_threads", "2",    "request_timeout_ms",
      "10000",           "enable_keep_alive", "no",          nullptr};
  mg_callbacks callbacks{};
  // civetweb's own log lines would interleave with tlstap's output; what
  // matters reaches the caller as the error below.
  callbacks.log_message = [](const mg_connection*, const char*) { return 1; };
  mg_init_data init{};
  init.callbacks = &callbacks;
  init.user_data = server.get();
  init.configuration_options = options;
  char text[256] = "";
  unsigned code = 0;
  mg_error_data error{};
  error.code = &code;
  error.text = text;
  error.text_buffer_size = sizeof(text);
  // Signals go to the engine's thread, whose poll they interrupt: the
  // server's threads inherit a mask that blocks them.
  sigset_t block, old;
  sigemptyset(&block);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) sigaddset(&block, sig);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  server->ctx_ = mg_start2(&init, &error);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (!server->ctx_) {
    return fail(ExitCode::kMetricsAddress,
                "--metrics " + where + ": cannot serve metrics there: " +
                    (text[0] ? std::string(text) : "civetweb failed to start") +
                    " (is the port in use? choose another with --metrics [ADDR:]PORT)");
  }
  mg_set_request_handler(server->ctx_, "/metrics$", &MetricsServer::handle, server.get());
  return server;
}

// mg_stop sets a flag that civetweb's listening thread reads between polls
// of up to 2 s; connections wake it sooner, so Ctrl-C is not held up.
MetricsServer::~MetricsServer() {
  if (!ctx_) return;
  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    mg_stop(ctx_);
    stopped = true;
  });
  for (int i = 0; i < 100 && !stopped; ++i) {
    poke(address_);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  stopper.join();
}

int MetricsServer::handle(mg_connection* conn, void* self) {
  const mg_request_info* request = mg_get_request_info(conn);
  const bool head = strcmp(request->request_method, "HEAD") == 0;
  if (!head && strcmp(request->request_method, "GET") != 0) {
    mg_send_http_error(conn, 405, "GET /metrics only\n");
    return 405;
  }
  const std::string body = static_cast<MetricsServer*>(self)->metrics_.render();
  mg_send_http_ok(conn, kContentType, static_cast<long long>(body.size()));
  if (!head) mg_write(conn, body.data(), body.size());
  return 200;
}

}  // namespace tlstap::exporting
