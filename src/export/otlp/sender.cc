#include "export/otlp/sender.h"

#include <curl/curl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <utility>
#include <vector>

namespace tlstap::exporting::otlp {
namespace {

void curl_init_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// At most n bytes of s on one line, control bytes as '?'.
std::string one_line(std::string_view s, size_t n = 200) {
  std::string out(s.substr(0, n));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  if (s.size() > n) out += "...";
  return out;
}

class CurlTransport final : public Transport {
 public:
  CurlTransport(CURL* curl, std::string url) : curl_(curl), url_(std::move(url)) {
    headers_ = curl_slist_append(nullptr, "Content-Type: application/json");
  }
  ~CurlTransport() override {
    curl_slist_free_all(headers_);
    curl_easy_cleanup(curl_);
  }

  PostResult post(const std::string& body, std::chrono::milliseconds timeout,
                  const std::atomic<bool>& cancel) override {
    std::string response;
    char error[CURL_ERROR_SIZE] = {};
    // One handle for every POST: the connection is kept between batches.
    curl_easy_setopt(curl_, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers_);
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(curl_, CURLOPT_USERAGENT, "tlstap");
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);  // another thread than main's
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
    curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(std::min<int64_t>(timeout.count(), 3000)));
    curl_easy_setopt(curl_, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &response);
    curl_easy_setopt(
        curl_, CURLOPT_WRITEFUNCTION, +[](char* data, size_t size, size_t n, void* user) -> size_t {
          auto* out = static_cast<std::string*>(user);
          if (out->size() < 4096) out->append(data, std::min<size_t>(size * n, 4096));
          return size * n;
        });
    // Called often while data moves, about once a second while waiting.
    curl_easy_setopt(curl_, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl_, CURLOPT_XFERINFODATA, &cancel);
    curl_easy_setopt(
        curl_, CURLOPT_XFERINFOFUNCTION,
        +[](void* cancel, curl_off_t, curl_off_t, curl_off_t, curl_off_t) -> int {
          return static_cast<const std::atomic<bool>*>(cancel)->load() ? 1 : 0;
        });
    CURLcode code = curl_easy_perform(curl_);
    curl_easy_setopt(curl_, CURLOPT_ERRORBUFFER, nullptr);
    if (code != CURLE_OK) {
      return {curl_easy_strerror(code), error[0] ? error : curl_easy_strerror(code)};
    }
    long status = 0;
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
      std::string kind = "HTTP " + std::to_string(status);
      return {kind, kind + (response.empty() ? "" : ": " + one_line(response))};
    }
    return {};
  }

 private:
  CURL* curl_;
  const std::string url_;
  curl_slist* headers_ = nullptr;
};

std::string basename_of(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

Result<std::string> traces_url(std::string_view url) {
  curl_init_once();
  auto bad = [&url](const std::string& why) {
    return fail(ExitCode::kUsage,
                "--otlp takes an http:// or https:// URL with a host, e.g. "
                "http://127.0.0.1:4318 (" +
                    why + ": \"" + one_line(url) + "\")");
  };
  // curl's own parser: what it accepts here is what it will connect to.
  std::unique_ptr<CURLU, void (*)(CURLU*)> u(curl_url(), curl_url_cleanup);
  if (!u) return bad("out of memory");
  const std::string text(url);
  // curl reads "http:///x" as host "x": a host must follow "//" at once.
  const size_t authority = text.find("://");
  if (authority == std::string::npos) return bad("no scheme");
  if (authority + 3 >= text.size() || text[authority + 3] == '/') return bad("no host");
  if (curl_url_set(u.get(), CURLUPART_URL, text.c_str(), 0) != CURLUE_OK) return bad("not a URL");
  auto part = [&u](CURLUPart which) {
    char* value = nullptr;
    std::string out;
    if (curl_url_get(u.get(), which, &value, 0) == CURLUE_OK && value) out = value;
    curl_free(value);
    return out;
  };
  const std::string scheme = part(CURLUPART_SCHEME);
  if (scheme != "http" && scheme != "https") return bad("scheme \"" + scheme + "\"");
  if (part(CURLUPART_HOST).empty()) return bad("no host");
  const std::string path = part(CURLUPART_PATH);
  if (path.empty() || path == "/") {
    if (curl_url_set(u.get(), CURLUPART_PATH, "/v1/traces", 0) != CURLUE_OK) return bad("path");
  }
  std::string full = part(CURLUPART_URL);
  if (full.empty()) return bad("not a URL");
  return full;
}

Result<std::unique_ptr<Transport>> make_curl_transport(const std::string& url) {
  curl_init_once();
  CURL* curl = curl_easy_init();
  if (!curl) return fail(ExitCode::kFailure, "--otlp: libcurl could not start");
  return std::make_unique<CurlTransport>(curl, url);
}

Sender::Sender(std::unique_ptr<Transport> transport, Origin origin, std::string url,
               std::function<void(const std::string&)> report, SenderLimits limits)
    : transport_(std::move(transport)),
      origin_(std::move(origin)),
      url_(std::move(url)),
      report_(std::move(report)),
      limits_(limits) {
  // Signals go to the engine's thread, whose poll they interrupt: the
  // sender thread starts with them blocked.
  sigset_t block, old;
  sigemptyset(&block);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) sigaddset(&block, sig);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  thread_ = std::thread([this] { run(); });
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

Sender::~Sender() { close(std::chrono::milliseconds(0)); }

const std::string& Sender::executable_of(pid_t pid) {
  auto found = executables_.find(pid);
  if (found != executables_.end()) return found->second;
  // Pids come and go: a bounded cache, emptied when full.
  if (executables_.size() >= 4096) executables_.clear();
  char path[PATH_MAX];
  const std::string link = "/proc/" + std::to_string(pid) + "/exe";
  ssize_t n = readlink(link.c_str(), path, sizeof(path) - 1);
  std::string name = n > 0 ? basename_of(std::string(path, static_cast<size_t>(n))) : "";
  // A deleted (replaced) executable reads "name (deleted)".
  if (name.ends_with(" (deleted)")) name.resize(name.size() - 10);
  return executables_.emplace(pid, std::move(name)).first->second;
}

void Sender::add(const protocols::Record& record) {
  Span span{record, ids_.next(), executable_of(record.conn.pid)};
  std::lock_guard lock(mu_);
  if (closing_ || queue_.size() >= limits_.max_queue) {
    ++stats_.dropped;
    return;
  }
  const bool first = queue_.empty();
  if (first) oldest_ = std::chrono::steady_clock::now();
  queue_.push_back(std::move(span));
  // The sender sleeps without a deadline while the queue is empty: the
  // first span starts its clock, a full batch ends it.
  if (first || queue_.size() >= limits_.max_batch) wake_.notify_one();
}

void Sender::close(std::chrono::milliseconds timeout) {
  {
    std::lock_guard lock(mu_);
    if (closing_) return;
    closing_ = true;
    deadline_ = std::chrono::steady_clock::now() + timeout;
  }
  wake_.notify_one();
  {
    std::unique_lock lock(mu_);
    if (!finished_cv_.wait_until(lock, deadline_, [this] { return finished_; })) cancel_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void Sender::add_stats(capture::Stats* s) const {
  const SenderStats o = stats();
  s->otlp_enabled = true;
  s->otlp_spans_sent = o.sent;
  s->otlp_spans_dropped = o.dropped;
  s->otlp_spans_failed = o.failed;
  s->otlp_failed_posts = o.failed_posts;
}

SenderStats Sender::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void Sender::run() {
  using Clock = std::chrono::steady_clock;
  std::unique_lock lock(mu_);
  while (true) {
    // A batch is due when it is full, when its oldest span has waited
    // max_delay, or at close.
    auto due = [this] {
      return closing_ || queue_.size() >= limits_.max_batch ||
             (!queue_.empty() && Clock::now() >= oldest_ + limits_.max_delay);
    };
    while (!due()) {
      if (queue_.empty()) {
        wake_.wait(lock);
      } else {
        wake_.wait_until(lock, oldest_ + limits_.max_delay);
      }
    }
    auto timeout = limits_.post_timeout;
    if (closing_) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now());
      if (queue_.empty() || left.count() <= 0) {
        stats_.dropped += queue_.size();
        queue_.clear();
        finished_ = true;
        finished_cv_.notify_all();
        return;
      }
      timeout = std::min(timeout, left);
    }
    const size_t n = std::min(queue_.size(), limits_.max_batch);
    std::vector<Span> batch(std::make_move_iterator(queue_.begin()),
                            std::make_move_iterator(queue_.begin() + static_cast<ptrdiff_t>(n)));
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<ptrdiff_t>(n));
    // What is left waits at most max_delay from now.
    oldest_ = Clock::now();
    lock.unlock();
    const std::string body = encode_traces(batch, origin_);
    PostResult result = transport_->post(body, timeout, cancel_);
    lock.lock();
    if (result.ok()) {
      stats_.sent += n;
      continue;
    }
    stats_.failed += n;
    ++stats_.failed_posts;
    if (!cancel_ && reported_.insert(result.kind).second) {
      // Said without the lock: a stderr that blocks must not block add().
      lock.unlock();
      report_("tlstap: --otlp " + url_ + ": spans not sent: " + result.detail +
              " (counted in the statistics; said once for this kind of failure; the capture goes "
              "on)\n");
      lock.lock();
    }
  }
}

}  // namespace tlstap::exporting::otlp
