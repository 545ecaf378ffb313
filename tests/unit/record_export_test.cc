// Record rows and record JSON lines (--records) against golden output.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <sstream>
#include <string>

#include "export/json/json_lines.h"
#include "export/json/record_json.h"
#include "export/prometheus/metrics.h"
#include "export/text/record_table.h"
#include "export/text/table.h"

namespace tlstap::exporting {
namespace {

// curl's side of a GET answered with a 1.5 KiB page.
protocols::http1::Record Record() {
  protocols::http1::Record r;
  r.conn.conn_id = 3;
  r.conn.pid = 4242;
  r.conn.fd = 5;
  r.conn.comm = "curl";
  r.conn.lib = capture::Lib::kOpenSsl;
  r.conn.local.family = r.conn.remote.family = AF_INET;
  inet_pton(AF_INET, "127.0.0.1", r.conn.local.addr.data());
  inet_pton(AF_INET, "127.0.0.1", r.conn.remote.addr.data());
  r.conn.local.port = 51514;
  r.conn.remote.port = 8443;
  r.client = true;
  r.method = "GET";
  r.target = "/index.html?q=1";
  r.host = "localhost:8443";
  r.status = 200;
  r.request_bytes = 78;
  r.response_bytes = 1736;
  r.request_body_bytes = 0;
  r.response_body_bytes = 1536;
  r.ts_ns = 1'795'300'000'123'456'789;  // 2026-11-21 22:26:40.123456789 UTC
  r.latency_ns = 1'234'567;
  return r;
}

TEST(RecordTable, HeaderAndRowGolden) {
  std::ostringstream out, status;
  TableExporter table(out, status, {.utc = true});
  table.on_record(Record());
  protocols::http1::Record second = Record();
  second.target = "/missing";
  second.status = 404;
  second.latency_ns = 850'000;
  table.on_record(second);
  EXPECT_EQ(out.str(),
            "TIME            COMM                PID CONNECTION                                    "
            "  PROTO    STATUS   LATENCY       REQ      RESP REQUEST\n"
            "22:26:40.123456 curl               4242 fd 5 127.0.0.1:51514 > 127.0.0.1:8443         "
            "  http1       200   1.235ms      78 B   1.7 KiB GET /index.html?q=1\n"
            "22:26:40.123456 curl               4242 fd 5 127.0.0.1:51514 > 127.0.0.1:8443         "
            "  http1       404     850us      78 B   1.7 KiB GET /missing\n");
  EXPECT_EQ(status.str(), "");
}

TEST(RecordTable, ServerSideAndIncompletePairs) {
  protocols::http1::Record r = Record();
  r.client = false;
  r.conn.comm = "nginx";
  std::swap(r.conn.local, r.conn.remote);
  EXPECT_EQ(format_record_connection(r), "fd 5 127.0.0.1:8443 < 127.0.0.1:51514");

  r.status = 0;
  r.response_bytes = r.response_body_bytes = 0;
  r.latency_ns = 0;
  r.error = "no response";
  EXPECT_EQ(format_record_row(r, /*utc=*/true),
            "22:26:40.123456 nginx              4242 fd 5 127.0.0.1:8443 < 127.0.0.1:51514         "
            "  http1         -         -      78 B         - GET /index.html?q=1 [no response]\n");

  protocols::http1::Record lone = Record();
  lone.method.clear();
  lone.target.clear();
  lone.request_bytes = 0;
  lone.latency_ns = 0;
  lone.error = "no request seen";
  lone.conn.fd = -1;
  lone.conn.local = lone.conn.remote = {};
  EXPECT_EQ(format_record_row(lone, /*utc=*/true),
            "22:26:40.123456 curl               4242 unattributed                                  "
            "  http1       200         -         -   1.7 KiB - [no request seen]\n");
}

TEST(RecordTable, LatencyUnits) {
  EXPECT_EQ(format_latency(0), "-");
  EXPECT_EQ(format_latency(999), "0us");
  EXPECT_EQ(format_latency(850'000), "850us");
  EXPECT_EQ(format_latency(1'000'000), "1.000ms");
  EXPECT_EQ(format_latency(12'345'678), "12.346ms");
  EXPECT_EQ(format_latency(2'500'000'000), "2.500s");
}

TEST(RecordTable, NonPrintableAndLongTargetsAreTamed) {
  protocols::http1::Record r = Record();
  r.target = "/a\x1b[31m" + std::string(200, 'x');
  std::string row = format_record_row(r, /*utc=*/true);
  EXPECT_NE(row.find("GET /a.[31m" + std::string(113, 'x') + "...\n"), std::string::npos) << row;
}

TEST(RecordJson, Golden) {
  std::string line;
  append_record_json(&line, Record());
  EXPECT_EQ(line, R"({"type":"record","proto":"http1","ts_ns":1795300000123456789,"pid":4242,)"
                  R"("comm":"curl","lib":"openssl","side":"client","fd":5,)"
                  R"("laddr":"127.0.0.1:51514","raddr":"127.0.0.1:8443","conn_id":3,)"
                  R"("method":"GET","target":"/index.html?q=1","host":"localhost:8443",)"
                  R"("status":200,"latency_ns":1234567,"request_bytes":78,"response_bytes":1736,)"
                  R"("request_body_bytes":0,"response_body_bytes":1536})"
                  "\n");
}

TEST(RecordJson, IncompleteServerSideUnattributed) {
  protocols::http1::Record r = Record();
  r.client = false;
  r.conn.comm = "ngi\"nx";
  r.conn.fd = -1;
  r.conn.local = r.conn.remote = {};
  r.status = 0;
  r.response_bytes = r.response_body_bytes = 0;
  r.latency_ns = 0;
  r.error = "no response";
  std::ostringstream out;
  JsonLinesExporter(out).on_record(r);
  EXPECT_EQ(out.str(), R"({"type":"record","proto":"http1","ts_ns":1795300000123456789,"pid":4242,)"
                       R"("comm":"ngi\"nx","lib":"openssl","side":"server","fd":-1,)"
                       R"("laddr":null,"raddr":null,"conn_id":3,)"
                       R"("method":"GET","target":"/index.html?q=1","host":"localhost:8443",)"
                       R"("status":0,"latency_ns":0,"request_bytes":78,"response_bytes":0,)"
                       R"("request_body_bytes":0,"response_body_bytes":0,"error":"no response"})"
                       "\n");
}

// A gRPC call over HTTP/2 (stream 5) whose trailers said UNAVAILABLE.
protocols::Record GrpcRecord() {
  protocols::Record r = Record();
  r.proto = protocols::Proto::kHttp2;
  r.stream_id = 5;
  r.method = "POST";
  r.target = "/pkg.Svc/Call";
  r.host = "grpc.local";
  r.grpc_status = 14;
  r.grpc_message = "no \"backend\"";
  return r;
}

TEST(RecordTable, Http2RowShowsProtoAndGrpcStatus) {
  EXPECT_EQ(format_record_row(GrpcRecord(), /*utc=*/true),
            "22:26:40.123456 curl               4242 fd 5 127.0.0.1:51514 > 127.0.0.1:8443         "
            "  http2       200   1.235ms      78 B   1.7 KiB POST /pkg.Svc/Call grpc-status=14\n");
}

// A PostgreSQL query the server refused.
protocols::Record DbErrorRecord() {
  protocols::Record r = Record();
  r.proto = protocols::Proto::kPostgres;
  r.method = "Query";
  r.target = "SELECT * FROM missing";
  r.host = "";
  r.status = protocols::kDbError;
  r.db_error_code = "42P01";
  r.db_error_message = "relation \"missing\" does not exist";
  return r;
}

TEST(RecordTable, DatabaseRowShowsOkOrErrorAndRows) {
  EXPECT_EQ(format_record_row(DbErrorRecord(), /*utc=*/true),
            "22:26:40.123456 curl               4242 fd 5 127.0.0.1:51514 > 127.0.0.1:8443         "
            "  postgres  error   1.235ms      78 B   1.7 KiB Query SELECT * FROM missing error "
            "42P01: relation \"missing\" does not exist\n");
  protocols::Record ok = DbErrorRecord();
  ok.proto = protocols::Proto::kMysql;
  ok.method = "COM_QUERY";
  ok.target = "SELECT 1";
  ok.status = protocols::kDbOk;
  ok.rows = 1;
  ok.db_error_code.clear();
  ok.db_error_message.clear();
  EXPECT_EQ(format_record_row(ok, /*utc=*/true),
            "22:26:40.123456 curl               4242 fd 5 127.0.0.1:51514 > 127.0.0.1:8443         "
            "  mysql        ok   1.235ms      78 B   1.7 KiB COM_QUERY SELECT 1 rows=1\n");
}

TEST(RecordJson, DatabaseRecordCarriesRowsAndServerError) {
  std::string line;
  exporting::append_record_json(&line, DbErrorRecord());
  EXPECT_NE(line.find(R"("proto":"postgres")"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("method":"Query","target":"SELECT * FROM missing")"), std::string::npos)
      << line;
  EXPECT_NE(
      line.find(
          R"("db_error_code":"42P01","db_error_message":"relation \"missing\" does not exist")"),
      std::string::npos)
      << line;
  EXPECT_EQ(line.find(R"("rows")"), std::string::npos) << "rows unknown: left out; " << line;
}

TEST(RecordJson, Http2WithStreamIdAndGrpcStatus) {
  std::string line;
  append_record_json(&line, GrpcRecord());
  EXPECT_EQ(line, R"({"type":"record","proto":"http2","ts_ns":1795300000123456789,"pid":4242,)"
                  R"("comm":"curl","lib":"openssl","side":"client","fd":5,)"
                  R"("laddr":"127.0.0.1:51514","raddr":"127.0.0.1:8443","conn_id":3,)"
                  R"("method":"POST","target":"/pkg.Svc/Call","host":"grpc.local",)"
                  R"("status":200,"latency_ns":1234567,"request_bytes":78,"response_bytes":1736,)"
                  R"("request_body_bytes":0,"response_body_bytes":1536,"stream_id":5,)"
                  R"("grpc_status":14,"grpc_message":"no \"backend\""})"
                  "\n");
}

capture::Stats RecordStats() {
  capture::Stats s;
  s.calls = 4;
  s.call_bytes = 1024;
  s.captured_bytes = 1024;
  s.attributed_bytes = 1024;
  s.targets_attached = 1;
  s.probes_attached = 9;
  s.records_enabled = true;
  s.records = 5;
  s.record_errors = 1;
  s.record_parse_errors = 2;
  s.record_gaps = 3;
  s.records_http2 = 7;
  s.records_mysql = 4;
  s.record_mysql_compressed = 1;
  s.records_postgres = 3;
  s.record_postgres_db_errors = 1;
  return s;
}

TEST(RecordStats, JsonStatsLineCarriesRecordCounters) {
  std::ostringstream out;
  JsonLinesExporter(out).on_stats(RecordStats(), true);
  EXPECT_TRUE(out.str().ends_with(
      R"("malformed_records":0,"output_events":0,"output_bytes":0,"output_records":0},)"
      R"("records":{"http1":5,"http2":7,"mysql":4,"mysql_compressed":1,)"
      R"("postgres":3,"postgres_db_errors":1,"postgres_unmatched":0,"errors":1,"parse_errors":2,"gaps":3,)"
      R"("hpack_lost":0,"overflows":0}})"
      "\n"))
      << out.str();
  std::ostringstream off;
  capture::Stats s = RecordStats();
  s.records_enabled = false;
  JsonLinesExporter(off).on_stats(s, true);
  EXPECT_EQ(off.str().find("\"records\""), std::string::npos) << off.str();
}

TEST(RecordStats, ExitSummarySaysRecords) {
  std::ostringstream out, status;
  TableExporter(out, status, {}).on_stats(RecordStats(), true);
  EXPECT_EQ(status.str(),
            "tlstap: 4 calls, 1.0 KiB; captured 100.00% of bytes, 100.00% of them attributed to a "
            "socket; 1 libraries, 9 probes attached\n"
            "tlstap: records: 5 HTTP/1 request/response pairs, 7 HTTP/2 streams, 4 MySQL commands, "
            "3 PostgreSQL commands (1 with an error); 2 times the bytes were not the protocol "
            "expected, 3 gaps in the streams; MySQL: 1 connections on the compressed protocol not "
            "parsed; PostgreSQL: 1 answered with a server error, 0 answers to no request seen\n"
            "tlstap: lost: nothing\n");
}

// --otlp's counters: in the JSON stats line, the exit summary and /metrics,
// only when --otlp is on.
TEST(RecordStats, OtlpCountersWhenOn) {
  capture::Stats s = RecordStats();
  s.otlp_enabled = true;
  s.otlp_spans_sent = 10;
  s.otlp_spans_dropped = 2;
  s.otlp_spans_failed = 5;
  s.otlp_failed_posts = 1;
  std::ostringstream json;
  JsonLinesExporter(json).on_stats(s, true);
  EXPECT_TRUE(json.str().ends_with(
      R"("overflows":0},"otlp":{"sent":10,"dropped":2,"failed":5,"failed_requests":1}})"
      "\n"))
      << json.str();
  std::ostringstream out, status;
  TableExporter(out, status, {}).on_stats(s, true);
  EXPECT_NE(status.str().find("\ntlstap: otlp: 10 spans sent, 2 dropped (send queue full, or left "
                              "at exit), 5 not sent (1 requests failed)\ntlstap: lost: nothing\n"),
            std::string::npos)
      << status.str();
  Metrics metrics;
  metrics.set_stats(s);
  EXPECT_NE(metrics.render().find("# TYPE tlstap_otlp_spans_total counter\n"
                                  "tlstap_otlp_spans_total{result=\"sent\"} 10\n"
                                  "tlstap_otlp_spans_total{result=\"dropped\"} 2\n"
                                  "tlstap_otlp_spans_total{result=\"failed\"} 5\n"),
            std::string::npos)
      << metrics.render();

  s.otlp_enabled = false;
  std::ostringstream off_json, off_out, off_status;
  JsonLinesExporter(off_json).on_stats(s, true);
  TableExporter(off_out, off_status, {}).on_stats(s, true);
  metrics.set_stats(s);
  EXPECT_EQ(off_json.str().find("otlp"), std::string::npos);
  EXPECT_EQ(off_status.str().find("otlp"), std::string::npos);
  EXPECT_EQ(metrics.render().find("otlp"), std::string::npos);
}

}  // namespace
}  // namespace tlstap::exporting
