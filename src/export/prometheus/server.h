// --metrics: GET /metrics over HTTP, served by civetweb (Debian's
// libcivetweb) on its own threads, each scrape rendered from Metrics under
// its mutex. Nothing else is served: any other path is a 404, any other
// method a 405.
#pragma once

#include <memory>
#include <string>

#include "export/prometheus/metrics.h"
#include "util/error.h"

struct mg_context;
struct mg_connection;

namespace tlstap::exporting {

// Where to listen: "127.0.0.1", "0.0.0.0", "::1" (no brackets), and a port.
struct MetricsAddress {
  std::string host = "127.0.0.1";
  int port = 0;
};

// "[ADDR:]PORT", "[V6ADDR]:PORT": ADDR a numeric IPv4 or IPv6 address (no
// name lookups), 127.0.0.1 when left out; PORT 1 to 65535.
Result<MetricsAddress> parse_metrics_address(std::string_view text);
// "127.0.0.1:9464", "[::1]:9464".
std::string format_metrics_address(const MetricsAddress& a);

class MetricsServer {
 public:
  // Listens at once; an address that cannot be bound (in use, not this
  // host's) is an error with ExitCode::kMetricsAddress.
  static Result<std::unique_ptr<MetricsServer>> make(const MetricsAddress& address,
                                                     const Metrics& metrics);
  ~MetricsServer();  // stops the threads, closes the socket
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

 private:
  MetricsServer(const MetricsAddress& address, const Metrics& metrics)
      : address_(address), metrics_(metrics) {}
  static int handle(mg_connection* conn, void* self);

  const MetricsAddress address_;
  const Metrics& metrics_;
  mg_context* ctx_ = nullptr;
};

}  // namespace tlstap::exporting
