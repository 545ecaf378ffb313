// --records without root: DataEvents as the pipeline hands them on, through
// protocols::Records (reassembly and HTTP/1 pairing) to a handler that
// keeps what it is given.
#include "protocols/records.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "export/json/json_read.h"

namespace tlstap::protocols {
namespace {

using capture::DataEvent;
using capture::Dir;

// What Records hand on, kept as the engine would hand it to a sink.
struct Kept {
  std::vector<http1::Record> records;
};

Records::Handler to(Kept& out) {
  return [&out](const Record& r) { out.records.push_back(r); };
}

// A client's call on connection 1 (fd 7), its bytes at pos in direction dir.
DataEvent Event(Dir dir, uint64_t pos, std::string data, uint64_t ts_ns) {
  DataEvent e;
  e.conn_id = 1;
  e.pid = 100;
  e.tid = 101;
  e.fd = 7;
  e.comm = "curl";
  e.lib = capture::Lib::kOpenSsl;
  e.attribution = capture::Attribution::kSyscall;
  e.dir = dir;
  e.stream_pos = pos;
  e.len = data.size();
  e.data = std::move(data);
  e.ts_ns = ts_ns;
  return e;
}

constexpr char kRequest[] = "GET /a HTTP/1.1\r\nHost: example\r\n\r\n";         // 35 bytes
constexpr char kResponse[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";  // 40 bytes

TEST(Records, PairsCallsIntoRecordsAsSoonAsTheResponseIsWhole) {
  Kept out;
  Records records(to(out));
  // The request in two calls; the response's head and body in two more.
  records.add(Event(Dir::kTx, 0, "GET /a HTTP/1.1\r\n", 1'000));
  records.add(Event(Dir::kTx, 17, "Host: example\r\n\r\n", 1'100));
  records.add(Event(Dir::kRx, 0, std::string(kResponse, 38), 5'000));
  EXPECT_TRUE(out.records.empty()) << "the body is not whole yet";
  records.add(Event(Dir::kRx, 38, "hi", 6'000));
  ASSERT_EQ(out.records.size(), 1u);
  const protocols::http1::Record& r = out.records[0];
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.target, "/a");
  EXPECT_EQ(r.host, "example");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.client);
  EXPECT_EQ(r.request_bytes, sizeof(kRequest) - 1);
  EXPECT_EQ(r.response_bytes, sizeof(kResponse) - 1);
  EXPECT_EQ(r.response_body_bytes, 2u);
  EXPECT_EQ(r.ts_ns, 1'000u);
  EXPECT_EQ(r.latency_ns, 5'000u);
  EXPECT_EQ(r.conn.pid, 100);
  EXPECT_EQ(r.conn.fd, 7);
  EXPECT_EQ(r.conn.comm, "curl");
  EXPECT_EQ(r.error, "");

  capture::Stats s;
  records.add_stats(&s);
  EXPECT_TRUE(s.records_enabled);
  EXPECT_EQ(s.records, 1u);
  EXPECT_EQ(s.record_errors, 0u);
}

TEST(Records, CloseAllAtExitHandsOnTheLastRequest) {
  Kept out;
  Records records(to(out));
  records.add(Event(Dir::kTx, 0, kRequest, 1'000));
  EXPECT_TRUE(out.records.empty());
  records.close_all();
  ASSERT_EQ(out.records.size(), 1u);
  EXPECT_EQ(out.records[0].method, "GET");
  EXPECT_EQ(out.records[0].status, 0);
  EXPECT_EQ(out.records[0].error, "no response");
  capture::Stats s;
  records.add_stats(&s);
  EXPECT_EQ(s.records, 1u);
  EXPECT_EQ(s.record_errors, 1u);
}

// The end of the TLS session (SSL_free, ...) ends a body delimited by the
// close: its record comes then, not at the idle timeout or at exit.
TEST(Records, SessionEndFinishesACloseDelimitedResponse) {
  Kept out;
  Records records(to(out));
  records.add(Event(Dir::kTx, 0, kRequest, 1'000));
  const std::string response =
      "HTTP/1.0 200 ok\r\n"                 // HTTP/1.0, no length: the body runs to the close
      "Content-type: text/html\r\n"         // header
      "\r\n"                                // end of headers
      "<HTML><BODY>...</BODY></HTML>\r\n";  // body
  records.add(Event(Dir::kRx, 0, response, 2'000));
  EXPECT_TRUE(out.records.empty()) << "the body may go on";
  records.close(2);  // another session
  EXPECT_TRUE(out.records.empty());
  records.close(1);
  ASSERT_EQ(out.records.size(), 1u);
  EXPECT_EQ(out.records[0].status, 200);
  EXPECT_EQ(out.records[0].response_bytes, response.size());
  EXPECT_EQ(out.records[0].response_body_bytes, 31u);
  EXPECT_EQ(out.records[0].latency_ns, 1'000u);
  EXPECT_EQ(out.records[0].error, "");
  records.close_all();
  EXPECT_EQ(out.records.size(), 1u) << "nothing left";
}

TEST(Records, ExpireClosesIdleConnectionsAndCountsGaps) {
  Kept out;
  streams::Limits limits;
  limits.idle_timeout_ns = 10'000;
  limits.max_hole_age_ns = 1'000;
  Records records(to(out), limits);
  records.add(Event(Dir::kTx, 0, kRequest, 1'000));
  // The response's first 10 bytes never arrive.
  records.add(Event(Dir::kRx, 10, std::string(kResponse).substr(10), 2'000));
  records.expire(3'500);  // the hole is given up: a gap
  capture::Stats s;
  records.add_stats(&s);
  EXPECT_EQ(s.record_gaps, 1u);
  records.expire(20'000);  // idle: closed, its request becomes a record
  ASSERT_EQ(out.records.size(), 1u);
  EXPECT_EQ(out.records[0].method, "GET");
  EXPECT_NE(out.records[0].error, "");
  records.add_stats(&s);
  EXPECT_EQ(s.records, 1u);
  EXPECT_EQ(s.record_errors, 1u);
}

// An HTTP/2 connection: the preface sends it to HTTP/2, whose streams come
// out as records with proto http2; the HTTP/1 counters stay at zero.
TEST(Records, Http2ConnectionsBecomeHttp2Records) {
  using namespace std::literals;
  Kept out;
  Records records(to(out));
  std::string request =
      "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"s  // the client preface
      "\x00\x00\x03"                       // length 3
      "\x01"                               // type HEADERS
      "\x05"                               // END_STREAM | END_HEADERS
      "\x00\x00\x00\x01"                   // stream 1
      "\x82\x84\x86"s;                     // GET, /, http
  std::string response =
      "\x00\x00\x00\x04\x00\x00\x00\x00\x00"s                     // SETTINGS, empty
      "\x00\x00\x01"                                              // length 1
      "\x01"                                                      // type HEADERS
      "\x05"                                                      // END_STREAM | END_HEADERS
      "\x00\x00\x00\x01"                                          // stream 1
      "\x8d"s;                                                    // :status 404
  records.add(Event(Dir::kTx, 0, request.substr(0, 10), 1'000));  // a prefix: held
  records.add(Event(Dir::kTx, 10, request.substr(10), 1'500));
  records.add(Event(Dir::kRx, 0, response, 4'000));
  ASSERT_EQ(out.records.size(), 1u);
  const protocols::Record& r = out.records[0];
  EXPECT_EQ(r.proto, protocols::Proto::kHttp2);
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.target, "/");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.stream_id, 1u);
  EXPECT_EQ(r.latency_ns, 2'500u);
  EXPECT_EQ(r.conn.comm, "curl");
  capture::Stats s;
  records.add_stats(&s);
  EXPECT_EQ(s.records, 0u);
  EXPECT_EQ(s.records_http2, 1u);
  EXPECT_EQ(s.record_parse_errors, 0u);
}

// A PostgreSQL connection (a StartupMessage first, cut after 3 bytes)
// goes to the PostgreSQL tracker; a query that fails is a record with the
// server's error, counted as such and not as a capture error.
TEST(Records, PostgresConnectionMakesPostgresRecords) {
  using namespace std::literals;
  Kept out;
  Records records(to(out));
  const std::string opening =
      "\x00\x00\x00\x1b"  // length 27
      "\x00\x03\x00\x00"  // protocol 3.0
      "user\0u\0"         // user u
      "database\0d\0"     // database d
      "\0"s;              // end of the parameters
  const std::string ready =
      "R\x00\x00\x00\x08"  // Authentication, length 8
      "\x00\x00\x00\x00"   //   ok
      "Z\x00\x00\x00\x05"  // ReadyForQuery, length 5
      "I"s;                //   idle
  const std::string query =
      "Q\x00\x00\x00\x14"    // Query, length 20
      "SELECT * FROM x\0"s;  //   the text
  const std::string error =
      "E\x00\x00\x00\x1b"                                        // ErrorResponse, length 27
      "C42P01\0"                                                 //   SQLSTATE
      "Mno such table\0"                                         //   message
      "\0"                                                       //   end of the fields
      "Z\x00\x00\x00\x05"                                        // ReadyForQuery, length 5
      "I"s;                                                      //   idle
  records.add(Event(Dir::kTx, 0, opening.substr(0, 3), 1'000));  // too few to decide: held
  records.add(Event(Dir::kTx, 3, opening.substr(3), 1'100));
  records.add(Event(Dir::kRx, 0, ready, 2'000));
  records.add(Event(Dir::kTx, opening.size(), query, 3'000));
  records.add(Event(Dir::kRx, ready.size(), error, 3'700));
  ASSERT_EQ(out.records.size(), 1u);
  const protocols::Record& r = out.records[0];
  EXPECT_EQ(r.proto, protocols::Proto::kPostgres);
  EXPECT_EQ(r.method, "Query");
  EXPECT_EQ(r.target, "SELECT * FROM x");
  EXPECT_EQ(r.status, protocols::kDbError);
  EXPECT_EQ(r.db_error_code, "42P01");
  EXPECT_EQ(r.db_error_message, "no such table");
  EXPECT_EQ(r.latency_ns, 700u);
  EXPECT_TRUE(r.client);
  capture::Stats s;
  records.add_stats(&s);
  EXPECT_EQ(s.records, 0u);
  EXPECT_EQ(s.records_postgres, 1u);
  EXPECT_EQ(s.record_postgres_db_errors, 1u);
  EXPECT_EQ(s.record_errors, 0u);
  EXPECT_EQ(s.record_parse_errors, 0u);
}

// The benchmark's recordings (bench/data/, bench/README.md says how they
// were made): real curl and nginx traffic, both ends traced, read back and
// parsed. Every request is a whole record on each side, with the status
// nginx gave it.
struct Replayed {
  std::map<std::string, int> by_side_method_status;  // "client GET 200" -> count
  int incomplete = 0;
  size_t events = 0;
};

Replayed Replay(const std::string& recording) {
  auto events = exporting::read_data_events(std::string(TLSTAP_BENCH_DATA) + "/" + recording);
  EXPECT_TRUE(events.has_value()) << events.error().message;
  Replayed out;
  if (!events) return out;
  out.events = events->size();
  Records records([&](const protocols::Record& r) {
    out.incomplete += !r.error.empty();
    ++out.by_side_method_status[std::string(r.client ? "client " : "server ") + r.method + " " +
                                std::to_string(r.status)];
  });
  for (const DataEvent& e : *events) records.add(e);
  records.close_all();
  return out;
}

TEST(RecordsReplay, RecordedHttp1FromCurlAndNginx) {
  Replayed r = Replay("nginx_http1.jsonl.gz");
  EXPECT_EQ(r.events, 485u);
  EXPECT_EQ(r.incomplete, 0);
  // 100 GETs on one keep-alive connection (90 pages, 10 404s); 5
  // connections each with a POST to /post (201) and one to / (curl -d
  // posts to every URL; nginx answers a POST to a static file 405); 3
  // chunked POSTs to /post.
  const std::map<std::string, int> side = {
      {"GET 200", 90}, {"GET 404", 10}, {"POST 201", 8}, {"POST 405", 5}};
  std::map<std::string, int> expected;
  for (const auto& [k, n] : side) {
    expected["client " + k] = n;
    expected["server " + k] = n;
  }
  EXPECT_EQ(r.by_side_method_status, expected);
}

TEST(RecordsReplay, RecordedHttp2FromCurlAndNginx) {
  Replayed r = Replay("nginx_http2.jsonl.gz");
  EXPECT_EQ(r.events, 522u);
  EXPECT_EQ(r.incomplete, 0);
  // 100 GETs multiplexed on one connection (10 of them 404s), then three
  // connections of 6 GETs.
  const std::map<std::string, int> expected = {{"client GET 200", 108},
                                               {"client GET 404", 10},
                                               {"server GET 200", 108},
                                               {"server GET 404", 10}};
  EXPECT_EQ(r.by_side_method_status, expected);
}

// A MySQL connection over TLS: the client's HandshakeResponse41 sends it
// to the MySQL tracker, whose commands come out as records with proto
// mysql; the HTTP counters stay at zero.
TEST(Records, MysqlConnectionsBecomeMysqlRecords) {
  using namespace std::literals;
  Kept out;
  Records records(to(out));
  std::string login =
      "\x26\x00\x00"s          // payload length 38
      "\x02"                   // sequence id 2 (after the SSLRequest)
      "\x84\xaa\xbf\x00"       // capabilities: PROTOCOL_41, SSL, ...
      "\x00\x00\x00\x01"       // max packet size
      "\x21"s                  // character set
      + std::string(23, '\0')  // filler
      + "root\0"s              // user
      + "\x00"s;               // no auth response
  std::string auth_ok = "\x07\x00\x00\x03\x00\x00\x00\x02\x00\x00\x00"s;  // OK, seq 3
  std::string ping = "\x01\x00\x00\x00\x0e"s;                             // COM_PING
  std::string ok = "\x07\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00"s;       // OK, seq 1
  records.add(Event(Dir::kTx, 0, login.substr(0, 4), 1'000));             // a header alone: held
  records.add(Event(Dir::kTx, 4, login.substr(4), 1'100));
  records.add(Event(Dir::kRx, 0, auth_ok, 2'000));
  records.add(Event(Dir::kTx, login.size(), ping, 3'000));
  records.add(Event(Dir::kRx, auth_ok.size(), ok, 3'500));
  ASSERT_EQ(out.records.size(), 1u);
  const protocols::Record& r = out.records[0];
  EXPECT_EQ(r.proto, protocols::Proto::kMysql);
  EXPECT_EQ(r.method, "COM_PING");
  EXPECT_EQ(r.status, protocols::kDbOk);
  EXPECT_EQ(r.rows, 0);
  EXPECT_EQ(r.latency_ns, 500u);
  EXPECT_TRUE(r.client);
  capture::Stats s;
  records.add_stats(&s);
  EXPECT_EQ(s.records, 0u);
  EXPECT_EQ(s.records_http2, 0u);
  EXPECT_EQ(s.records_mysql, 1u);
  EXPECT_EQ(s.record_parse_errors, 0u);
}

// The openings of every connection in the recordings, both directions
// (curl's and nginx's, HTTP/1.1 and HTTP/2, as their TLS calls carried
// them): PostgreSQL's classifier never says yes to any prefix of them,
// and says no once it has what the router holds.
TEST(RecordsReplay, RealHttpOpeningsAreNeverPostgres) {
  for (const char* recording : {"nginx_http1.jsonl.gz", "nginx_http2.jsonl.gz"}) {
    auto events = exporting::read_data_events(std::string(TLSTAP_BENCH_DATA) + "/" + recording);
    ASSERT_TRUE(events.has_value()) << events.error().message;
    std::map<std::pair<uint64_t, int>, std::string> openings;  // (conn, dir) -> first bytes
    for (const DataEvent& e : *events) {
      std::string& o = openings[{e.conn_id, static_cast<int>(e.dir)}];
      if (e.stream_pos == o.size() && o.size() < protocols::Router::kMaxHeld) {
        o += std::string_view(e.data).substr(0, protocols::Router::kMaxHeld - o.size());
      }
    }
    ASSERT_GE(openings.size(), 4u) << recording;
    for (const auto& [key, o] : openings) {
      for (size_t n = 1; n <= o.size(); ++n) {
        EXPECT_FALSE(
            protocols::takes(protocols::pgsql::ClassifyOpening(std::string_view(o).substr(0, n))))
            << recording << ": " << n << " bytes of " << o.substr(0, 16);
      }
      EXPECT_EQ(protocols::pgsql::ClassifyOpening(o), protocols::Opening::kNo)
          << recording << ": " << o.substr(0, 16);
    }
  }
}

}  // namespace
}  // namespace tlstap::protocols
