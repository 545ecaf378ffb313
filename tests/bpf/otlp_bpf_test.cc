// tlstap --otlp against Debian's nginx and curl over TLS, its spans received
// by an OTLP/HTTP receiver the test runs (civetweb; Debian 12 packages no
// OpenTelemetry Collector): each request is a CLIENT span in curl's
// resource and a SERVER span in the nginx worker's, with the method, path,
// query, status, addresses, well-formed ids and times within the run. With
// nothing listening at the URL, tlstap says so in one line, captures on,
// and exits 0.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/bpf/nginx_server.h"
#include "tests/bpf/otlp_receiver.h"
#include "tests/bpf/proc_inspect.h"
#include "tests/bpf/subprocess.h"
#include "tests/bpf/test_env.h"
#include "tests/bpf/tlstap_session.h"

namespace tlstap::bpf_test {
namespace {

// Sent as the user agent and in a header: must never reach a span.
constexpr char kMarker[] = "tlstapOtlpMarker42";

class OtlpTest : public BpfTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(BpfTest::SetUp());
    ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir_, &cert_));
    ASSERT_EQ(mkdir((dir_ / "www").c_str(), 0755), 0);
    ASSERT_NO_FATAL_FAILURE(WriteFile(dir_ / "www/static.txt", Payload("otlp/static", 2000)));
    ASSERT_NO_FATAL_FAILURE(
        nginx_.Start(dir_, cert_, {.root = dir_ / "www", .lines = {}, .http_lines = {}}));
    otlp_port_ = FreeTcpPort();
    ASSERT_GT(otlp_port_, 0);
  }

  // A held `curl --http1.1 -k` of urls on one connection, printing each
  // transfer's local port and status.
  static std::unique_ptr<Subprocess> HeldCurl(const std::vector<std::string>& urls) {
    std::vector<std::string> argv = {kCurl,       "-sS",
                                     "--http1.1", "-k",
                                     "-A",        kMarker,
                                     "-H",        std::string("X-Token: ") + kMarker,
                                     "-w",        "%{local_port} %{http_code}\n"};
    for (const std::string& url : urls) argv.insert(argv.end(), {"-o", "/dev/null", url});
    return std::make_unique<Subprocess>(HeldCommand(argv));
  }

  // Lets a held curl go and waits for it.
  static void Release(Subprocess& curl) {
    ASSERT_TRUE(curl.Write("go\n", 5s));
    curl.CloseStdin();
    ASSERT_EQ(curl.Wait(30s), 0) << curl.Stderr();
  }

  std::string OtlpUrl() const { return "http://127.0.0.1:" + std::to_string(otlp_port_); }

  TempDir dir_;
  Certificate cert_;
  NginxServer nginx_;
  int otlp_port_ = 0;
};

// Two GETs on one connection (200 with a query, then 404): four spans, sent
// within the 1 s batching delay while tlstap still runs.
TEST_F(OtlpTest, SpansOfCurlAndNginx) {
  OtlpReceiver receiver(otlp_port_);
  ASSERT_TRUE(receiver.ok()) << "civetweb could not listen on 127.0.0.1:" << otlp_port_;
  auto curl = HeldCurl({nginx_.Url("/static.txt?lang=en&page=2"), nginx_.Url("/missing.txt")});
  ASSERT_TRUE(curl->ok()) << curl->error();
  // With --metrics too: the span counts reach /metrics.
  const int metrics_port = FreeTcpPort();
  ASSERT_GT(metrics_port, 0);
  ASSERT_NE(metrics_port, otlp_port_);
  TlstapSession tap;
  ASSERT_NO_FATAL_FAILURE(
      tap.Start({"--otlp", OtlpUrl(), "--metrics", "127.0.0.1:" + std::to_string(metrics_port),
                 "--pid", std::to_string(curl->pid()), "--pid", std::to_string(nginx_.worker())}));
  ASSERT_TRUE(tap.WaitForStderr(
      [&](std::string_view s) {
        return s.find("sending spans to " + OtlpUrl() + "/v1/traces\n") != std::string_view::npos;
      },
      10s))
      << tap.Stderr();
  const uint64_t start_ns = NowNs();
  ASSERT_NO_FATAL_FAILURE(Release(*curl));
  const uint64_t end_ns = NowNs();
  std::istringstream report(curl->Stdout());
  int local_port = 0, status1 = 0, status2 = 0;
  ASSERT_TRUE(report >> local_port >> status1 >> local_port >> status2) << curl->Stdout();
  ASSERT_EQ(status1, 200);
  ASSERT_EQ(status2, 404);

  // Sent while tlstap runs: the batch waits at most 1 s.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (SpansOf(receiver.Posts()).size() < 4 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(SpansOf(receiver.Posts()).size(), 4u) << Describe(receiver.Posts());
  // /metrics gets fresh statistics once a second.
  const std::string sent_line = "\ntlstap_otlp_spans_total{result=\"sent\"} 4\n";
  std::string metrics;
  for (auto until = std::chrono::steady_clock::now() + 10s;
       metrics.find(sent_line) == std::string::npos && std::chrono::steady_clock::now() < until;
       std::this_thread::sleep_for(200ms)) {
    SpawnOptions get = Command({kCurl, "-sS", "--max-time", "5",
                                "http://127.0.0.1:" + std::to_string(metrics_port) + "/metrics"});
    get.stdin_pipe = false;
    metrics = RunToEnd(get, 10s).out;
  }
  EXPECT_NE(metrics.find(sent_line), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("\ntlstap_otlp_spans_total{result=\"failed\"} 0\n"), std::string::npos);
  Capture capture;
  ASSERT_NO_FATAL_FAILURE(tap.Stop(&capture));
  const std::vector<Post> posts = receiver.Posts();
  for (const Post& p : posts) {
    EXPECT_EQ(p.method, "POST");
    EXPECT_EQ(p.uri, "/v1/traces");
    EXPECT_EQ(p.content_type, "application/json");
    EXPECT_FALSE(p.body.is_discarded()) << "a body that is not JSON";
    // Headers never become attributes (the data events did carry them).
    EXPECT_EQ(p.body.dump().find(kMarker), std::string::npos) << p.body.dump();
    EXPECT_EQ(p.body.dump().find("X-Token"), std::string::npos) << p.body.dump();
  }
  const std::vector<ReceivedSpan> spans = SpansOf(posts);
  ASSERT_EQ(spans.size(), 4u) << Describe(posts);
  EXPECT_TRUE(tap.Stderr().find("spans not sent") == std::string::npos) << tap.Stderr();

  // nginx_.addr() is "127.0.0.1:PORT"; curl sent it as the Host header.
  const std::string server_port = std::to_string(nginx_.port());
  std::set<std::string> span_ids;
  int client_spans = 0, server_spans = 0;
  for (const ReceivedSpan& s : spans) {
    SCOPED_TRACE(s.span.dump());
    const bool client = s.span.value("kind", 0) == 3;
    EXPECT_TRUE(client || s.span.value("kind", 0) == 2);
    (client ? client_spans : server_spans)++;
    const pid_t pid = client ? curl->pid() : nginx_.worker();
    const std::string comm = client ? "curl" : "nginx";
    // The resource: the process the span's record came from.
    EXPECT_EQ(IntAttr(s.resource, "process.pid"), std::to_string(pid));
    EXPECT_EQ(StrAttr(s.resource, "service.name"), comm);
    EXPECT_EQ(StrAttr(s.resource, "process.executable.name"), comm);
    EXPECT_EQ(StrAttr(s.resource, "host.name"), HostName());
    EXPECT_EQ(s.scope_name, "tlstap");
    EXPECT_FALSE(s.scope_version.empty());
    // Ids and times.
    EXPECT_TRUE(LowerHex(s.span.value("traceId", ""), 32));
    EXPECT_TRUE(LowerHex(s.span.value("spanId", ""), 16));
    span_ids.insert(s.span.value("spanId", ""));
    const uint64_t start = std::stoull(s.span.value("startTimeUnixNano", "0"));
    const uint64_t end = std::stoull(s.span.value("endTimeUnixNano", "0"));
    EXPECT_GE(start, start_ns);
    EXPECT_GT(end, start);
    EXPECT_LE(end, end_ns);
    // HTTP.
    EXPECT_EQ(s.span.value("name", ""), "GET");
    EXPECT_EQ(StrAttr(s.attributes, "http.request.method"), "GET");
    EXPECT_EQ(StrAttr(s.attributes, "network.protocol.name"), "http");
    EXPECT_EQ(StrAttr(s.attributes, "network.protocol.version"), "1.1");
    EXPECT_EQ(StrAttr(s.attributes, "server.address"), "127.0.0.1");
    EXPECT_EQ(IntAttr(s.attributes, "server.port"), server_port);
    const bool found = StrAttr(s.attributes, "url.path") == "/static.txt";
    if (found) {
      EXPECT_EQ(StrAttr(s.attributes, "url.query"), "lang=en&page=2");
      EXPECT_EQ(IntAttr(s.attributes, "http.response.status_code"), "200");
      EXPECT_FALSE(s.span.contains("status"));
    } else {
      EXPECT_EQ(StrAttr(s.attributes, "url.path"), "/missing.txt");
      EXPECT_FALSE(s.attributes.contains("url.query"));
      EXPECT_EQ(IntAttr(s.attributes, "http.response.status_code"), "404");
      // 404: the client's error, not the server's.
      if (client) {
        EXPECT_EQ(s.span["status"], nlohmann::json::parse(R"({"message":"HTTP 404","code":2})"));
      } else {
        EXPECT_FALSE(s.span.contains("status"));
      }
    }
    if (client) {
      EXPECT_FALSE(s.attributes.contains("client.address"));
    } else {
      EXPECT_EQ(StrAttr(s.attributes, "client.address"), "127.0.0.1");
      EXPECT_EQ(IntAttr(s.attributes, "client.port"), std::to_string(local_port));
    }
    EXPECT_FALSE(s.attributes.contains("tlstap.error"));
  }
  EXPECT_EQ(client_spans, 2);
  EXPECT_EQ(server_spans, 2);
  EXPECT_EQ(span_ids.size(), 4u);

  const nlohmann::json* stats = capture.final_stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->value("/otlp/sent"_json_pointer, uint64_t{0}), 4u) << stats->dump();
  EXPECT_EQ(stats->value("/otlp/dropped"_json_pointer, uint64_t{1}), 0u) << stats->dump();
  EXPECT_EQ(stats->value("/otlp/failed"_json_pointer, uint64_t{1}), 0u) << stats->dump();
  EXPECT_TRUE(capture.records.empty()) << "--otlp alone shows no records";
  EXPECT_NE(capture.Stream(curl->pid(), "tx").find(std::string("X-Token: ") + kMarker),
            std::string::npos)
      << Describe(capture.OfPid(curl->pid()));
  ExpectNoLoss(capture);
}

// Nothing listens at the URL: the first failed POST is said in one line,
// the next ones are only counted, and the capture goes on (the second
// curl's traffic, after the failure, is captured); exit 0.
TEST_F(OtlpTest, ReceiverDownIsOneLineAndCaptureGoesOn) {
  auto first = HeldCurl({nginx_.Url("/static.txt")});
  auto second = HeldCurl({nginx_.Url("/static.txt?again=1")});
  ASSERT_TRUE(first->ok() && second->ok());
  TlstapSession tap;
  ASSERT_NO_FATAL_FAILURE(
      tap.Start({"--otlp", OtlpUrl(), "--pid", std::to_string(first->pid()), "--pid",
                 std::to_string(second->pid()), "--pid", std::to_string(nginx_.worker())}));
  ASSERT_NO_FATAL_FAILURE(Release(*first));
  const std::string refused = "tlstap: --otlp " + OtlpUrl() + "/v1/traces: spans not sent: ";
  ASSERT_TRUE(tap.WaitForStderr(
      [&](std::string_view s) { return s.find(refused) != std::string_view::npos; }, 10s))
      << tap.Stderr();
  ASSERT_NO_FATAL_FAILURE(Release(*second));
  // The second curl's spans fail in a batch of their own (1 s later), or
  // at exit.
  std::this_thread::sleep_for(1500ms);
  Capture capture;
  ASSERT_NO_FATAL_FAILURE(tap.Stop(&capture));
  const std::string err = tap.Stderr();
  size_t lines = 0;
  for (size_t at = err.find(refused); at != std::string::npos; at = err.find(refused, at + 1)) {
    ++lines;
    const std::string line = err.substr(at, err.find('\n', at) - at);
    EXPECT_NE(line.find("127.0.0.1"), std::string::npos) << line;
    EXPECT_TRUE(
        line.ends_with("(counted in the statistics; said once for this kind of failure; "
                       "the capture goes on)"))
        << line;
  }
  EXPECT_EQ(lines, 1u) << err;
  EXPECT_NE(capture.Stream(second->pid(), "tx").find("GET /static.txt?again=1 HTTP/1.1\r\n"),
            std::string::npos)
      << Describe(capture.OfPid(second->pid()));
  const nlohmann::json* stats = capture.final_stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->value("/otlp/sent"_json_pointer, uint64_t{1}), 0u) << stats->dump();
  EXPECT_EQ(stats->value("/otlp/failed"_json_pointer, uint64_t{0}), 4u) << stats->dump();
  EXPECT_GE(stats->value("/otlp/failed_requests"_json_pointer, uint64_t{0}), 2u) << stats->dump();
  EXPECT_EQ(stats->value("/otlp/dropped"_json_pointer, uint64_t{1}), 0u) << stats->dump();
  EXPECT_EQ(stats->value("/records/http1"_json_pointer, uint64_t{0}), 4u) << stats->dump();
  ExpectNoLoss(capture);
}

}  // namespace
}  // namespace tlstap::bpf_test
