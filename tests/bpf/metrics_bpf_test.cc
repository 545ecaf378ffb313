// tlstap --metrics against Debian's nginx and curl over TLS, scraped by a
// real Prometheus (Debian's prometheus package): the request counts by
// status, method, process and side, the latency histogram and the health
// gauges come out of Prometheus's query API with the values the traffic
// implies; the /metrics text carries no byte of the requests' targets,
// headers or bodies; a port already in use stops tlstap with exit 7.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/bpf/nginx_server.h"
#include "tests/bpf/proc_inspect.h"
#include "tests/bpf/subprocess.h"
#include "tests/bpf/test_env.h"
#include "tests/bpf/tlstap_session.h"

namespace tlstap::bpf_test {
namespace {

constexpr char kPrometheus[] = "/usr/bin/prometheus";
// Sent in targets, a header and a body: must never reach the metrics.
constexpr char kMarker[] = "tlstapSecretMarker42";

class MetricsTest : public BpfTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(BpfTest::SetUp());
    ASSERT_EQ(access(kPrometheus, X_OK), 0)
        << kPrometheus << " is missing: run scripts/install-deps.sh (Debian's prometheus)";
    ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir_, &cert_));
    ASSERT_EQ(mkdir((dir_ / "www").c_str(), 0755), 0);
    ASSERT_NO_FATAL_FAILURE(WriteFile(dir_ / "www/static.txt", Payload("metrics/static", 3000)));
    // HTTP/1.1: the records (and so the metrics) of both sides.
    ASSERT_NO_FATAL_FAILURE(nginx_.Start(
        dir_, cert_,
        {.root = dir_ / "www",
         .lines = {"location = /upload { return 201 \"created\\n\"; }", "location / { }"},
         .http_lines = {}}));
    metrics_port_ = FreeTcpPort();
    ASSERT_GT(metrics_port_, 0);
  }

  std::string MetricsUrl() const {
    return "http://127.0.0.1:" + std::to_string(metrics_port_) + "/metrics";
  }

  // Starts Prometheus scraping tlstap's port every second, its data in the
  // test's directory, its API on a free loopback port.
  void StartPrometheus() {
    prometheus_port_ = FreeTcpPort();
    ASSERT_GT(prometheus_port_, 0);
    ASSERT_NE(prometheus_port_, metrics_port_);
    std::string conf;
    conf += "global:\n";
    conf += "  scrape_interval: 1s\n";
    conf += "  scrape_timeout: 1s\n";
    conf += "  evaluation_interval: 1s\n";
    conf += "scrape_configs:\n";
    conf += "  - job_name: tlstap\n";
    conf += "    static_configs:\n";
    conf += "      - targets: ['127.0.0.1:" + std::to_string(metrics_port_) + "']\n";
    ASSERT_NO_FATAL_FAILURE(WriteFile(dir_ / "prometheus.yml", conf));
    SpawnOptions options =
        Command({kPrometheus, "--config.file=" + (dir_ / "prometheus.yml"),
                 "--storage.tsdb.path=" + (dir_ / "tsdb"),
                 "--web.listen-address=127.0.0.1:" + std::to_string(prometheus_port_)});
    options.stdin_pipe = false;
    options.cwd = dir_.path();
    prometheus_ = std::make_unique<Subprocess>(options);
    ASSERT_TRUE(prometheus_->ok()) << prometheus_->error();
    ASSERT_TRUE(WaitForListen(prometheus_port_, 60s))
        << "Prometheus did not listen on port " << prometheus_port_ << " within 60 s:\n"
        << Tail(prometheus_->Stderr());
  }

  static std::string Tail(const std::string& s, size_t n = 3000) {
    return s.size() > n ? "..." + s.substr(s.size() - n) : s;
  }

  // GET url with curl; the body ("" on failure).
  static std::string HttpGet(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {kCurl, "-sS", "--max-time", "5"};
    argv.insert(argv.end(), args.begin(), args.end());
    SpawnOptions o = Command(argv);
    o.stdin_pipe = false;
    RunResult r = RunToEnd(o, 10s);
    return r.status == 0 ? r.out : "";
  }

  // The instant query's answer as Prometheus sent it.
  std::string Query(const std::string& promql) const {
    return HttpGet({"-G", "--data-urlencode", "query=" + promql,
                    "http://127.0.0.1:" + std::to_string(prometheus_port_) + "/api/v1/query"});
  }

  // The value of a query whose result is one sample; nullopt when it has
  // none (yet), or more than one.
  std::optional<double> Value(const std::string& promql, std::string* raw) const {
    *raw = Query(promql);
    auto j = nlohmann::json::parse(*raw, nullptr, false);
    if (j.is_discarded() || j.value("status", "") != "success") return std::nullopt;
    const auto& result = j["data"]["result"];
    if (!result.is_array() || result.size() != 1) return std::nullopt;
    return std::stod(result[0]["value"][1].get<std::string>());
  }

  // Polls Prometheus until the query's value satisfies pred (it has to
  // start, scrape, and see the counters tlstap publishes once a second).
  ::testing::AssertionResult Eventually(const std::string& promql,
                                        const std::function<bool(double)>& pred,
                                        const std::string& expected) {
    std::string raw;
    std::optional<double> v;
    for (auto deadline = std::chrono::steady_clock::now() + 60s;
         std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(250ms)) {
      v = Value(promql, &raw);
      if (v && pred(*v)) return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure()
           << "Prometheus: " << promql << " should be " << expected
           << " within 60 s; last answer: " << (raw.empty() ? "(none: is Prometheus up?)" : raw)
           << "\nscrape targets: "
           << HttpGet({"http://127.0.0.1:" + std::to_string(prometheus_port_) + "/api/v1/targets"})
           << "\nPrometheus stderr:\n"
           << Tail(prometheus_ ? prometheus_->Stderr() : "");
  }

  ::testing::AssertionResult Equals(const std::string& promql, double want) {
    std::ostringstream s;
    s << want;
    return Eventually(
        promql, [want](double v) { return v == want; }, s.str());
  }

  TempDir dir_;
  Certificate cert_;
  NginxServer nginx_;
  int metrics_port_ = 0, prometheus_port_ = 0;
  std::unique_ptr<Subprocess> prometheus_;
};

// Six requests on one keep-alive connection: three GETs answered 200, two
// 404s, a POST answered 201; each is a record on curl's side and on the
// nginx worker's. tlstap's own output stays the data events (records are
// made for the metrics, not shown).
TEST_F(MetricsTest, PrometheusScrapesRequestsAndHealth) {
  const std::string marker = kMarker;
  const std::string missing = nginx_.Url("/missing.txt?token=" + marker);
  const std::string ok = nginx_.Url("/static.txt");
  std::vector<std::string> argv = {kCurl,  "-sS", "--http1.1",          "-k", "-A",
                                   marker, "-H",  "X-Token: " + marker, "-w", "%{http_code}\n"};
  for (const std::string& url : {ok, ok, ok, missing, missing}) {
    argv.insert(argv.end(), {"-o", "/dev/null", url});
  }
  // --next: a POST of its own (curl resets the options), same connection.
  argv.insert(argv.end(), {"--next", "-sS", "--http1.1", "-k", "-A", marker, "-w", "%{http_code}\n",
                           "-o", "/dev/null", "-H", "Expect:", "--data-binary", "secret=" + marker,
                           nginx_.Url("/upload")});
  Subprocess curl(HeldCommand(argv));
  ASSERT_TRUE(curl.ok()) << curl.error();
  TlstapSession tap;
  ASSERT_NO_FATAL_FAILURE(
      tap.Start({"--metrics", "127.0.0.1:" + std::to_string(metrics_port_), "--pid",
                 std::to_string(curl.pid()), "--pid", std::to_string(nginx_.worker())}));
  ASSERT_TRUE(tap.WaitForStderr(
      [&](std::string_view s) {
        return s.find("metrics at " + MetricsUrl()) != std::string_view::npos;
      },
      10s))
      << tap.Stderr();
  ASSERT_TRUE(curl.Write("go\n", 5s));
  curl.CloseStdin();
  ASSERT_EQ(curl.Wait(30s), 0) << curl.Stderr();
  ASSERT_EQ(curl.Stdout(), "200\n200\n200\n404\n404\n201\n");

  ASSERT_NO_FATAL_FAILURE(StartPrometheus());
  EXPECT_TRUE(Equals(R"(up{job="tlstap"})", 1));
  EXPECT_TRUE(Equals(R"(sum(tlstap_http_requests_total{status="404",side="client"}))", 2));
  EXPECT_TRUE(Equals(R"(sum(tlstap_http_requests_total{status="404",side="server"}))", 2));
  EXPECT_TRUE(Equals(
      R"(tlstap_http_requests_total{proto="http1",method="GET",status="200",comm="curl",side="client"})",
      3));
  EXPECT_TRUE(Equals(
      R"(tlstap_http_requests_total{proto="http1",method="POST",status="201",comm="nginx",side="server"})",
      1));
  EXPECT_TRUE(Equals(R"(sum(tlstap_http_requests_total))", 12));
  EXPECT_TRUE(Equals(R"(sum(tlstap_http_request_duration_seconds_count{side="client"}))", 6));
  EXPECT_TRUE(
      Equals(R"(sum(tlstap_http_request_duration_seconds_bucket{side="server",le="+Inf"}))", 6));
  EXPECT_TRUE(Eventually(R"(sum(tlstap_http_request_duration_seconds_sum{side="client"}))",
                         [](double v) { return v > 0 && v < 30; }, "between 0 and 30 s"));
  // Health.
  EXPECT_TRUE(Equals(R"(tlstap_records_total{proto="http1"})", 12));
  EXPECT_TRUE(Equals("tlstap_record_errors_total", 0));
  EXPECT_TRUE(Eventually(
      "tlstap_targets_attached", [](double v) { return v >= 1; }, ">= 1"));
  EXPECT_TRUE(Eventually(
      "tlstap_probes_attached", [](double v) { return v >= 1; }, ">= 1"));
  EXPECT_TRUE(Eventually(
      "tlstap_calls_total", [](double v) { return v >= 24; }, ">= 24"));
  EXPECT_TRUE(Equals("tlstap_captured_bytes_total - tlstap_call_bytes_total", 0));
  EXPECT_TRUE(Equals("tlstap_attributed_bytes_ratio", 1));
  EXPECT_TRUE(Equals("sum(tlstap_lost_bytes_total)", 0));
  EXPECT_TRUE(Equals("sum(tlstap_lost_total)", 0));
  EXPECT_TRUE(Eventually(
      "count(tlstap_lost_total)", [](double v) { return v >= 1; }, "at least one cause"));
  EXPECT_TRUE(Equals("tlstap_http_requests_over_label_limit_total", 0));

  // The text itself: the series above, and no byte of what curl sent
  // beyond the method (targets, headers, bodies, the user agent).
  const std::string text = HttpGet({MetricsUrl()});
  ASSERT_FALSE(text.empty()) << "GET " << MetricsUrl() << " failed";
  EXPECT_NE(text.find("\ntlstap_http_requests_total{proto=\"http1\",method=\"GET\",status=\"404\","
                      "comm=\"curl\",side=\"client\"} 2\n"),
            std::string::npos)
      << text;
  for (const char* secret : {kMarker, "missing", "static.txt", "upload", "token", "X-Token"}) {
    EXPECT_EQ(text.find(secret), std::string::npos) << "\"" << secret << "\" in:\n" << text;
  }

  Capture capture;
  ASSERT_NO_FATAL_FAILURE(tap.Stop(&capture));
  EXPECT_TRUE(capture.records.empty())
      << "--metrics alone shows no records: " << capture.records.front().dump();
  // The data events are shown as usual, and they did carry the marker.
  EXPECT_NE(capture.Stream(curl.pid(), "tx").find(marker), std::string::npos)
      << Describe(capture.OfPid(curl.pid()));
  const nlohmann::json* stats = capture.final_stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->value("/records/http1"_json_pointer, uint64_t{0}), 12u) << stats->dump();
  ExpectNoLoss(capture);
}

// A port someone else listens on: one line naming it, exit 7, before any
// probe is attached.
TEST_F(MetricsTest, PortInUseIsOneLineAndExit7) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(metrics_port_);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0) << strerror(errno);
  ASSERT_EQ(listen(fd, 1), 0);
  SpawnOptions o = Command({kTlstap, "--metrics", std::to_string(metrics_port_)});
  o.stdin_pipe = false;
  RunResult r = RunToEnd(o, 30s);
  close(fd);
  EXPECT_EQ(r.status, 7) << r.err;
  EXPECT_TRUE(r.err.starts_with("tlstap: --metrics 127.0.0.1:" + std::to_string(metrics_port_)))
      << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(r.err.find("capturing"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace tlstap::bpf_test
