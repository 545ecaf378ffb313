// --metrics without root: the exposition text for known records and
// statistics (golden), label escaping, the label-set cap, that no payload
// reaches a label, the address syntax, and the HTTP server on loopback.
#include "export/prometheus/metrics.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "export/prometheus/server.h"

namespace tlstap::exporting {
namespace {

protocols::Record Rec(std::string comm, bool client, std::string method, int status,
                      uint64_t latency_ns) {
  protocols::Record r;
  r.conn.comm = std::move(comm);
  r.conn.pid = 4242;
  r.client = client;
  r.method = std::move(method);
  r.target = "/index.html";
  r.status = status;
  r.latency_ns = latency_ns;
  return r;
}

protocols::Record DbRec(protocols::Proto proto, std::string comm, bool client, std::string command,
                        int status, uint64_t latency_ns) {
  protocols::Record r = Rec(std::move(comm), client, std::move(command), status, latency_ns);
  r.proto = proto;
  r.target = "SELECT secret_column FROM secret_table";
  if (status == protocols::kDbError) {
    r.db_error_code = "42P01";
    r.db_error_message = "relation \"secret_table\" does not exist";
  }
  return r;
}

TEST(Metrics, DatabaseCommandsHaveTheirOwnFamilyWithoutStatementsOrMessages) {
  using protocols::Proto;
  Metrics m;
  m.add(DbRec(Proto::kMysql, "mariadb", true, "COM_QUERY", protocols::kDbOk, 300'000));
  m.add(DbRec(Proto::kPostgres, "postgres", false, "Query", protocols::kDbError, 2'000'000));
  m.add(DbRec(Proto::kPostgres, "psql", true, "SELECT 1", 0, 0));  // not a command name
  m.add(DbRec(Proto::kPostgres, "psql", true, "Startup", protocols::kDbError, 0));
  m.add(DbRec(Proto::kMysql, "psql", true, "Startup", protocols::kDbError, 0));  // not MySQL's
  std::string text = m.render();
  EXPECT_NE(text.find("tlstap_db_queries_total{proto=\"mysql\",command=\"COM_QUERY\","
                      "status=\"ok\",comm=\"mariadb\",side=\"client\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("tlstap_db_queries_total{proto=\"postgres\",command=\"Query\","
                      "status=\"error\",comm=\"postgres\",side=\"server\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("tlstap_db_queries_total{proto=\"postgres\",command=\"other\","
                      "status=\"none\",comm=\"psql\",side=\"client\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("tlstap_db_queries_total{proto=\"postgres\",command=\"Startup\","
                      "status=\"error\",comm=\"psql\",side=\"client\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("tlstap_db_queries_total{proto=\"mysql\",command=\"other\","
                      "status=\"error\",comm=\"psql\",side=\"client\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(
      text.find("tlstap_db_query_duration_seconds_bucket{proto=\"postgres\",command=\"Query\","
                "comm=\"postgres\",side=\"server\",le=\"0.0025\"} 1\n"),
      std::string::npos)
      << text;
  EXPECT_EQ(text.find("tlstap_http_requests_total{"), std::string::npos)
      << "database records are not HTTP requests";
  EXPECT_EQ(text.find("secret"), std::string::npos) << "statement or message in a label";
  EXPECT_EQ(text.find("42P01"), std::string::npos) << "error codes are not labels";
}

// Every family, in its fixed order, for three label sets and a few stats.
TEST(Metrics, ExpositionTextIsExact) {
  Metrics m;
  m.add(Rec("curl", true, "GET", 200, 300'000));        // 0.3 ms: le 0.0005 and up
  m.add(Rec("curl", true, "GET", 200, 2'000'000));      // 2 ms: le 0.0025 and up
  m.add(Rec("nginx", false, "GET", 404, 0));            // no latency: counted, not timed
  m.add(Rec("curl", true, "BREW", 0, 20'000'000'000));  // 20 s: +Inf only
  capture::Stats s;
  s.calls = 4;
  s.call_bytes = 1000;
  s.events = 4;
  s.captured_bytes = 1000;
  s.attributed_bytes = 750;
  s.lost_ringbuf_bytes = 10;
  s.lost_ringbuf_calls = 1;
  s.targets_attached = 2;
  s.probes_attached = 9;
  s.records_enabled = true;
  s.records = 4;
  s.record_errors = 1;
  m.set_stats(s);
  EXPECT_EQ(
      m.render(),
      R"txt(# HELP tlstap_http_requests_total HTTP requests paired with their responses (records), by protocol, method, status (none: no response seen), process name and side.
# TYPE tlstap_http_requests_total counter
tlstap_http_requests_total{proto="http1",method="GET",status="200",comm="curl",side="client"} 2
tlstap_http_requests_total{proto="http1",method="GET",status="404",comm="nginx",side="server"} 1
tlstap_http_requests_total{proto="http1",method="other",status="none",comm="curl",side="client"} 1
# HELP tlstap_http_request_duration_seconds From the request's first byte to the response's last, of records where both were seen.
# TYPE tlstap_http_request_duration_seconds histogram
tlstap_http_request_duration_seconds_bucket{proto="http1",method="GET",comm="curl",side="client",le="0.0005"} 1
tlstap_http_request_duration_seconds_bucket{proto="http1",method="GET",comm="curl",side="client",le="0.001"} 1
tlstap_http_request_duration_seconds_bucket{proto="http1",method="GET",comm="curl",side="client",le="0.0025"} 2
tlstap_http_request_duration_seconds_bucket{proto="http1",method="GET",comm="curl",side="client",le="0.005"} 2
tlstap_http_request_duration_seconds_bucket{proto="http1",method="GET",comm="curl",side="client",le="0.01"} 2
tlstap_http_request_duration_seconds_bucket{proto="http1",method="GET",comm="curl",side="client",le="0.025"} 2
tlstap_http_request_duration_seconds_bucket{proto="http1",method="GET",comm="curl",side="client",le="0.05"} 2
tlstap_http_request_duration_seconds_bucket{proto="http1",method="GET",comm="curl",side="client",le="0.1"} 2
tlstap_http_request_duration_seconds_bucket{proto="http1",method="GET",comm="curl",side="client",le="0.25"} 2
tlstap_http_request_duration_seconds_bucket{proto="http1",method="GET",comm="curl",side="client",le="0.5"} 2
tlstap_http_request_duration_seconds_bucket{proto="http1",method="GET",comm="curl",side="client",le="1"} 2
tlstap_http_request_duration_seconds_bucket{proto="http1",method="GET",comm="curl",side="client",le="2.5"} 2
tlstap_http_request_duration_seconds_bucket{proto="http1",method="GET",comm="curl",side="client",le="5"} 2
tlstap_http_request_duration_seconds_bucket{proto="http1",method="GET",comm="curl",side="client",le="10"} 2
tlstap_http_request_duration_seconds_bucket{proto="http1",method="GET",comm="curl",side="client",le="+Inf"} 2
tlstap_http_request_duration_seconds_sum{proto="http1",method="GET",comm="curl",side="client"} 0.0023
tlstap_http_request_duration_seconds_count{proto="http1",method="GET",comm="curl",side="client"} 2
tlstap_http_request_duration_seconds_bucket{proto="http1",method="other",comm="curl",side="client",le="0.0005"} 0
tlstap_http_request_duration_seconds_bucket{proto="http1",method="other",comm="curl",side="client",le="0.001"} 0
tlstap_http_request_duration_seconds_bucket{proto="http1",method="other",comm="curl",side="client",le="0.0025"} 0
tlstap_http_request_duration_seconds_bucket{proto="http1",method="other",comm="curl",side="client",le="0.005"} 0
tlstap_http_request_duration_seconds_bucket{proto="http1",method="other",comm="curl",side="client",le="0.01"} 0
tlstap_http_request_duration_seconds_bucket{proto="http1",method="other",comm="curl",side="client",le="0.025"} 0
tlstap_http_request_duration_seconds_bucket{proto="http1",method="other",comm="curl",side="client",le="0.05"} 0
tlstap_http_request_duration_seconds_bucket{proto="http1",method="other",comm="curl",side="client",le="0.1"} 0
tlstap_http_request_duration_seconds_bucket{proto="http1",method="other",comm="curl",side="client",le="0.25"} 0
tlstap_http_request_duration_seconds_bucket{proto="http1",method="other",comm="curl",side="client",le="0.5"} 0
tlstap_http_request_duration_seconds_bucket{proto="http1",method="other",comm="curl",side="client",le="1"} 0
tlstap_http_request_duration_seconds_bucket{proto="http1",method="other",comm="curl",side="client",le="2.5"} 0
tlstap_http_request_duration_seconds_bucket{proto="http1",method="other",comm="curl",side="client",le="5"} 0
tlstap_http_request_duration_seconds_bucket{proto="http1",method="other",comm="curl",side="client",le="10"} 0
tlstap_http_request_duration_seconds_bucket{proto="http1",method="other",comm="curl",side="client",le="+Inf"} 1
tlstap_http_request_duration_seconds_sum{proto="http1",method="other",comm="curl",side="client"} 20
tlstap_http_request_duration_seconds_count{proto="http1",method="other",comm="curl",side="client"} 1
# HELP tlstap_http_requests_over_label_limit_total Records left out of tlstap_http_requests_total because it already had 1000 label sets.
# TYPE tlstap_http_requests_over_label_limit_total counter
tlstap_http_requests_over_label_limit_total 0
# HELP tlstap_db_queries_total Database commands paired with their responses (records), by protocol, command, status (ok, error; none: no response seen), process name and side.
# TYPE tlstap_db_queries_total counter
# HELP tlstap_db_query_duration_seconds From the request's first byte to the response's last, of records where both were seen.
# TYPE tlstap_db_query_duration_seconds histogram
# HELP tlstap_db_queries_over_label_limit_total Records left out of tlstap_db_queries_total because it already had 1000 label sets.
# TYPE tlstap_db_queries_over_label_limit_total counter
tlstap_db_queries_over_label_limit_total 0
# HELP tlstap_records_total Request/response pairs made by the protocol parsers.
# TYPE tlstap_records_total counter
tlstap_records_total{proto="http1"} 4
tlstap_records_total{proto="http2"} 0
tlstap_records_total{proto="mysql"} 0
tlstap_records_total{proto="postgres"} 0
# HELP tlstap_record_errors_total Records that are not whole pairs.
# TYPE tlstap_record_errors_total counter
tlstap_record_errors_total 1
# HELP tlstap_record_parse_errors_total Times bytes were not the protocol where a message was expected.
# TYPE tlstap_record_parse_errors_total counter
tlstap_record_parse_errors_total 0
# HELP tlstap_record_gaps_total Gaps (bytes never captured) in parsed streams.
# TYPE tlstap_record_gaps_total counter
tlstap_record_gaps_total 0
# HELP tlstap_calls_total TLS calls seen by the probes.
# TYPE tlstap_calls_total counter
tlstap_calls_total 4
# HELP tlstap_call_bytes_total Bytes the TLS calls transferred.
# TYPE tlstap_call_bytes_total counter
tlstap_call_bytes_total 1000
# HELP tlstap_events_total Data events delivered to user space.
# TYPE tlstap_events_total counter
tlstap_events_total 4
# HELP tlstap_captured_bytes_total Bytes captured.
# TYPE tlstap_captured_bytes_total counter
tlstap_captured_bytes_total 1000
# HELP tlstap_attributed_bytes_total Captured bytes attributed to a socket.
# TYPE tlstap_attributed_bytes_total counter
tlstap_attributed_bytes_total 750
# HELP tlstap_captured_bytes_ratio Captured bytes over bytes the TLS calls transferred (1 when none).
# TYPE tlstap_captured_bytes_ratio gauge
tlstap_captured_bytes_ratio 1
# HELP tlstap_attributed_bytes_ratio Attributed bytes over captured bytes (1 when none).
# TYPE tlstap_attributed_bytes_ratio gauge
tlstap_attributed_bytes_ratio 0.75
# HELP tlstap_lost_bytes_total Bytes lost, by cause.
# TYPE tlstap_lost_bytes_total counter
tlstap_lost_bytes_total{cause="ringbuf"} 10
tlstap_lost_bytes_total{cause="fault"} 0
tlstap_lost_bytes_total{cause="ktls_splice"} 0
tlstap_lost_bytes_total{cause="ktls_unreadable"} 0
tlstap_lost_bytes_total{cause="chunk_limit"} 0
tlstap_lost_bytes_total{cause="output"} 0
# HELP tlstap_lost_total Calls, records or sessions lost, by cause (the cause names the unit).
# TYPE tlstap_lost_total counter
tlstap_lost_total{cause="ringbuf_calls"} 1
tlstap_lost_total{cause="fault_records"} 0
tlstap_lost_total{cause="no_entry_calls"} 0
tlstap_lost_total{cause="too_deep_calls"} 0
tlstap_lost_total{cause="nss_unchecked_calls"} 0
tlstap_lost_total{cause="ktls_splice_calls"} 0
tlstap_lost_total{cause="ktls_unreadable_calls"} 0
tlstap_lost_total{cause="keys_ringbuf"} 0
tlstap_lost_total{cause="keys_fault"} 0
tlstap_lost_total{cause="keys_unusable"} 0
tlstap_lost_total{cause="notify"} 0
tlstap_lost_total{cause="conn_ends"} 0
tlstap_lost_total{cause="incomplete_calls"} 0
tlstap_lost_total{cause="malformed_records"} 0
tlstap_lost_total{cause="output_events"} 0
tlstap_lost_total{cause="output_records"} 0
# HELP tlstap_late_attaches_total Libraries attached after a running process had loaded them.
# TYPE tlstap_late_attaches_total counter
tlstap_late_attaches_total 0
# HELP tlstap_targets_attached TLS libraries and programs with probes attached.
# TYPE tlstap_targets_attached gauge
tlstap_targets_attached 2
# HELP tlstap_probes_attached Probes attached.
# TYPE tlstap_probes_attached gauge
tlstap_probes_attached 9
)txt");
}

TEST(Metrics, LabelValuesAreEscapedAndUtf8) {
  EXPECT_EQ(escape_label_value("plain"), "plain");
  EXPECT_EQ(escape_label_value("a\"b"), "a\\\"b");
  EXPECT_EQ(escape_label_value("a\\b"), "a\\\\b");
  EXPECT_EQ(escape_label_value("a\nb"), "a\\nb");
  EXPECT_EQ(escape_label_value("tab\there\x7f"), "tab?here?");
  EXPECT_EQ(escape_label_value("caf\xc3\xa9"), "caf\xc3\xa9");  // é stays
  EXPECT_EQ(escape_label_value("bad\xff\xc3"), "bad??");        // not UTF-8
  EXPECT_EQ(escape_label_value("\xe0\x80\x80"), "???");         // overlong
  EXPECT_EQ(escape_label_value("\xed\xa0\x80"), "???");         // a surrogate
  Metrics m;
  m.add(Rec("we\"ird\\\nname", true, "GET", 200, 0));
  EXPECT_NE(m.render().find(R"(comm="we\"ird\\\nname",side="client"} 1)"), std::string::npos)
      << m.render();
}

TEST(Metrics, MethodAndStatusLabelsAreBounded) {
  EXPECT_EQ(metric_method("GET"), "GET");
  EXPECT_EQ(metric_method("PATCH"), "PATCH");
  EXPECT_EQ(metric_method("get"), "other");
  EXPECT_EQ(metric_method("X-SECRET-TOKEN"), "other");
  EXPECT_EQ(metric_method(""), "none");
  EXPECT_EQ(metric_status(0), "none");
  EXPECT_EQ(metric_status(101), "101");
  EXPECT_EQ(metric_status(599), "599");
  EXPECT_EQ(metric_status(600), "other");
  EXPECT_EQ(metric_status(42), "other");
}

TEST(Metrics, NoPayloadReachesTheText) {
  protocols::Record r = Rec("curl", true, "GET", 200, 1000);
  r.target = "/secret-path?token=MARKER1";
  r.host = "MARKER2.example";
  r.error = "MARKER3";
  Metrics m;
  m.add(r);
  protocols::Record odd = Rec("curl", true, "MARKER4", 200, 1000);
  m.add(odd);
  const std::string text = m.render();
  for (const char* marker : {"MARKER", "secret", "token", "example"}) {
    EXPECT_EQ(text.find(marker), std::string::npos) << marker << " in:\n" << text;
  }
}

TEST(Metrics, LabelSetsAreCappedAndTheRestCounted) {
  Metrics m(2);
  m.add(Rec("a", true, "GET", 200, 1000));
  m.add(Rec("b", true, "GET", 200, 1000));
  m.add(Rec("c", true, "GET", 200, 1000));  // a third label set: over the limit
  m.add(Rec("d", true, "GET", 200, 1000));
  m.add(Rec("a", true, "GET", 200, 1000));  // a known one still counts
  const std::string text = m.render();
  EXPECT_NE(text.find(R"(comm="a",side="client"} 2)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(comm="b",side="client"} 1)"), std::string::npos) << text;
  EXPECT_EQ(text.find(R"(comm="c")"), std::string::npos) << text;
  EXPECT_EQ(text.find(R"(comm="d")"), std::string::npos) << text;
  EXPECT_NE(text.find("\ntlstap_http_requests_over_label_limit_total 2\n"), std::string::npos)
      << text;
}

TEST(MetricsAddress, Parses) {
  auto a = parse_metrics_address("9464");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 9464);
  EXPECT_EQ(format_metrics_address(*a), "127.0.0.1:9464");
  a = parse_metrics_address("0.0.0.0:80");
  ASSERT_TRUE(a);
  EXPECT_EQ(format_metrics_address(*a), "0.0.0.0:80");
  a = parse_metrics_address("[::1]:9464");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "::1");
  EXPECT_EQ(format_metrics_address(*a), "[::1]:9464");
  for (const char* bad : {"", "0", "65536", "-1", "localhost:9464", "1.2.3.4:", ":9464",
                          "[::1]9464", "::1:9464", "1.2.3:80", "9464x"}) {
    auto r = parse_metrics_address(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error().code, ExitCode::kUsage) << bad;
    }
  }
}

// A loopback port nobody listens on (the kernel's pick; closed again).
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(sa);
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), len) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    close(fd);
    return 0;
  }
  close(fd);
  return ntohs(sa.sin_port);
}

// One HTTP/1.0 exchange on 127.0.0.1:port; the whole response.
std::string Fetch(int port, const std::string& request) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(port);
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0 &&
      write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
    char buf[4096];
    for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;) out.append(buf, n);
  }
  close(fd);
  return out;
}

TEST(MetricsServer, ServesMetricsAndNothingElse) {
  Metrics m;
  m.add(Rec("curl", true, "GET", 200, 1000));
  const int port = FreePort();
  ASSERT_GT(port, 0);
  auto server = MetricsServer::make({"127.0.0.1", port}, m);
  ASSERT_TRUE(server) << server.error().message;
  std::string got = Fetch(port, "GET /metrics HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(got.starts_with("HTTP/1.0 200 OK\r\n")) << got;
  EXPECT_NE(got.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
            std::string::npos)
      << got;
  const size_t body = got.find("\r\n\r\n");
  ASSERT_NE(body, std::string::npos);
  EXPECT_EQ(got.substr(body + 4), m.render());
  // A record added after the first scrape shows in the next.
  m.add(Rec("curl", true, "GET", 200, 1000));
  EXPECT_NE(Fetch(port, "GET /metrics HTTP/1.0\r\n\r\n").find(R"(side="client"} 2)"),
            std::string::npos);
  EXPECT_TRUE(Fetch(port, "GET / HTTP/1.0\r\n\r\n").starts_with("HTTP/1.0 404")) << "/";
  EXPECT_TRUE(Fetch(port, "GET /etc/passwd HTTP/1.0\r\n\r\n").starts_with("HTTP/1.0 404"));
  EXPECT_TRUE(Fetch(port, "GET /metricsx HTTP/1.0\r\n\r\n").starts_with("HTTP/1.0 404"));
  EXPECT_TRUE(Fetch(port, "POST /metrics HTTP/1.0\r\n\r\n").starts_with("HTTP/1.0 405"));
}

TEST(MetricsServer, PortInUseOrForeignAddressIsOneLineAndItsOwnExitCode) {
  Metrics m;
  const int port = FreePort();
  ASSERT_GT(port, 0);
  auto first = MetricsServer::make({"127.0.0.1", port}, m);
  ASSERT_TRUE(first) << first.error().message;
  auto second = MetricsServer::make({"127.0.0.1", port}, m);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, ExitCode::kMetricsAddress);
  EXPECT_NE(second.error().message.find("127.0.0.1:" + std::to_string(port)), std::string::npos)
      << second.error().message;
  EXPECT_EQ(second.error().message.find('\n'), std::string::npos) << second.error().message;
  // TEST-NET-1: no interface of this host has it.
  auto foreign = MetricsServer::make({"192.0.2.1", port}, m);
  ASSERT_FALSE(foreign);
  EXPECT_EQ(foreign.error().code, ExitCode::kMetricsAddress);
}

}  // namespace
}  // namespace tlstap::exporting
