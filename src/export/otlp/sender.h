// --otlp URL: spans sent over OTLP/HTTP (JSON) without ever holding up the
// capture. The engine's thread turns each record into a span and puts it in
// a bounded queue (a full queue drops it, counted); one sender thread takes
// batches (up to 512 spans, or what came within 1 s) and POSTs them. A
// failed POST is counted, said once per kind of failure on stderr, and the
// capture goes on. At exit what is queued is sent within a short deadline.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "export/otlp/spans.h"
#include "export/sink.h"
#include "protocols/record.h"
#include "util/error.h"

namespace tlstap::exporting::otlp {

// "http[s]://host[:port][/path]": a URL without a path (or with "/") gets
// "/v1/traces", as OTEL_EXPORTER_OTLP_ENDPOINT does; one with a path is used
// as it is (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT). Anything else is an error
// whose message names what is wrong.
Result<std::string> traces_url(std::string_view url);

// One POST's outcome. kind names the failure for reporting it once
// ("connection refused", "HTTP 404"); "" when the collector took the batch.
struct PostResult {
  std::string kind;
  std::string detail;  // a longer reason, for the one line
  bool ok() const { return kind.empty(); }
};

class Transport {
 public:
  virtual ~Transport() = default;
  // POSTs body (application/json); gives up after timeout, or soon after
  // cancel becomes true (tlstap is exiting and its flush deadline passed).
  virtual PostResult post(const std::string& body, std::chrono::milliseconds timeout,
                          const std::atomic<bool>& cancel) = 0;
};

// libcurl (Debian's libcurl4-openssl-dev), not civetweb's client: curl
// gives https with the system's CA store, IPv6 and names (Debian's civetweb
// has no IPv6), proxies from the environment, a reused connection, and
// timeouts on connect and on the whole transfer; civetweb's client has none
// of the last three. tlstap's own TLS calls are never traced (the probes
// skip tlstap's pid), so https to a collector cannot loop.
Result<std::unique_ptr<Transport>> make_curl_transport(const std::string& url);

struct SenderLimits {
  size_t max_queue = 8192;                    // spans waiting; more are dropped
  size_t max_batch = 512;                     // spans per POST
  std::chrono::milliseconds max_delay{1000};  // a span waits at most this for its batch
  std::chrono::milliseconds post_timeout{5000};
};

struct SenderStats {
  uint64_t sent = 0;     // spans the collector took (2xx)
  uint64_t dropped = 0;  // spans dropped: the queue was full, or left at exit
  uint64_t failed = 0;   // spans in batches whose POST failed
  uint64_t failed_posts = 0;
};

// A Sink (--otlp): each record becomes a span, queued for the sender's
// own thread.
class Sender : public Sink {
 public:
  // report: says a failure in one line, from the sender thread (tlstap
  // writes it to fd 2 in one write(2): std::cerr is the engine's).
  Sender(std::unique_ptr<Transport> transport, Origin origin, std::string url,
         std::function<void(const std::string&)> report, SenderLimits limits = {});
  ~Sender();  // close(0): stops the thread, sends nothing more
  Sender(const Sender&) = delete;
  Sender& operator=(const Sender&) = delete;

  Takes takes() const override { return {.records = true}; }
  void on_record(const protocols::Record& record) override { add(record); }
  // Its span counters (otlp_*).
  void add_stats(capture::Stats* stats) const override;

  // The engine's thread, per record: never blocks on the network.
  void add(const protocols::Record& record);
  // Sends what is queued within timeout, then stops the sender thread: a
  // POST still under way is cancelled (its spans count as failed, not
  // said), spans still queued count as dropped. Once; add() after it drops.
  void close(std::chrono::milliseconds timeout);
  SenderStats stats() const;

 private:
  void run();
  // The executable's file name of pid (from /proc, cached), "" if gone.
  const std::string& executable_of(pid_t pid);

  std::unique_ptr<Transport> transport_;
  const Origin origin_;
  const std::string url_;
  const std::function<void(const std::string&)> report_;
  const SenderLimits limits_;
  IdGenerator ids_;  // the engine thread's
  std::unordered_map<pid_t, std::string> executables_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Span> queue_;
  std::chrono::steady_clock::time_point oldest_;  // when queue_.front() came
  bool closing_ = false;
  std::chrono::steady_clock::time_point deadline_;  // closing_: give up at
  bool finished_ = false;                           // run() returned
  std::condition_variable finished_cv_;
  std::atomic<bool> cancel_{false};
  SenderStats stats_;
  std::set<std::string> reported_;  // failure kinds said once
  std::thread thread_;
};

}  // namespace tlstap::exporting::otlp
