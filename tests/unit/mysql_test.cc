// MySQL records: the router's classifier, the packet parser and the
// conversation, fed byte literals as a MariaDB client and server send them
// over TLS (after the cleartext greeting and SSLRequest).
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "protocols/http2/types.h"
#include "protocols/mysql/tracker.h"

namespace tlstap::protocols::mysql {
namespace {

using namespace std::string_literals;
using capture::Dir;

// A packet: 3-byte little-endian length, sequence id, payload.
std::string Pkt(uint8_t seq, std::string_view payload) {
  std::string out;
  out += static_cast<char>(payload.size() & 0xff);
  out += static_cast<char>((payload.size() >> 8) & 0xff);
  out += static_cast<char>((payload.size() >> 16) & 0xff);
  out += static_cast<char>(seq);
  out += payload;
  return out;
}

// The HandshakeResponse41 of Debian's mariadb client (user "root", no
// password, no database), capabilities as given.
std::string HandshakeResponse(uint32_t caps) {
  std::string p;
  for (int i = 0; i < 4; ++i) p += static_cast<char>((caps >> (8 * i)) & 0xff);  // capabilities
  p += "\x00\x00\x00\x01"s;         // max packet size 16 MiB
  p += "\x21"s;                     // character set utf8
  p += std::string(19, '\0');       // filler
  p += "\x1d\x00\x00\x00"s;         // MariaDB's extended capabilities
  p += "root\0"s;                   // user name
  p += "\x00"s;                     // auth response: length 0
  p += "mysql_native_password\0"s;  // auth plugin
  return Pkt(2, p);
}

constexpr uint32_t kCaps = kClientProtocol41 | kClientSsl | 0x000a'a20f;  // as the client sends
constexpr uint32_t kCapsEof = kCaps & ~kClientDeprecateEof;
constexpr uint32_t kCapsNoEof = kCaps | kClientDeprecateEof;

// OK: 0x00, affected rows, last insert id, status (autocommit), warnings.
std::string OkPkt(uint8_t seq, uint8_t affected = 0, uint16_t status = 0x0002) {
  return Pkt(seq, "\x00"s + static_cast<char>(affected) + "\x00"s + static_cast<char>(status) +
                      static_cast<char>(status >> 8) + "\x00\x00"s);
}
// EOF: 0xfe, warnings, status.
std::string EofPkt(uint8_t seq, uint16_t status = 0x0002) {
  return Pkt(seq, "\xfe\x00\x00"s + static_cast<char>(status) + static_cast<char>(status >> 8));
}
// The OK with a 0xfe header that ends rows with CLIENT_DEPRECATE_EOF:
// 0xfe, affected rows, last insert id, status, warnings.
std::string OkEofPkt(uint8_t seq, uint16_t status = 0x0002) {
  return Pkt(seq, "\xfe\x00\x00"s + static_cast<char>(status) + static_cast<char>(status >> 8) +
                      "\x00\x00"s);
}
// A column definition (catalog "def", schema, table, names, then fixed fields).
std::string Column(uint8_t seq, std::string_view name) {
  std::string p = "\x03"s + "def";                               // catalog
  p += "\x00\x00\x00"s;                                          // schema, table, org table
  p += static_cast<char>(name.size()) + std::string(name);       // name
  p += "\x00"s;                                                  // org name
  p += "\x0c\x3f\x00\x15\x00\x00\x00\x08\x81\x00\x00\x00\x00"s;  // charset, length, type, flags...
  return Pkt(seq, p);
}
// A text row of one column.
std::string Row(uint8_t seq, std::string_view value) {
  return Pkt(seq, static_cast<char>(value.size()) + std::string(value));
}

streams::ConnInfo Info() {
  streams::ConnInfo info;
  info.conn_id = 1;
  info.pid = 42;
  info.fd = 5;
  return info;
}

struct Harness {
  Harness() : tracker([this](Record&& r) { records.push_back(std::move(r)); }, limits) {}
  void Send(Dir dir, std::string_view bytes, uint64_t ts) {
    uint64_t& p = pos[capture::dir_index(dir)];
    tracker.on_data(info, dir, p, bytes, ts);
    p += bytes.size();
  }
  void Gap(Dir dir, uint64_t len) {
    uint64_t& p = pos[capture::dir_index(dir)];
    tracker.on_gap(info, dir, p, len);
    p += len;
  }
  // The client's side: tx carries the commands.
  void Login(uint32_t caps) {
    Send(Dir::kTx, HandshakeResponse(caps), 10);
    Send(Dir::kRx, OkPkt(3), 20);  // authentication done
  }
  Limits limits;
  streams::ConnInfo info = Info();
  std::vector<Record> records;
  Tracker tracker;
  uint64_t pos[2] = {0, 0};
};

TEST(MysqlOpening, HandshakeResponseOverTlsIsTheClients) {
  std::string hr = HandshakeResponse(kCaps);
  EXPECT_EQ(ClassifyOpening(hr), Opening::kClient);
  EXPECT_TRUE(protocols::takes(ClassifyOpening(hr)));
  EXPECT_EQ(ClassifyOpening(hr.substr(0, 20)), Opening::kNeedMore);
  // Without CLIENT_SSL it cannot be the first packet over TLS.
  EXPECT_EQ(ClassifyOpening(HandshakeResponse(kCaps & ~kClientSsl)), Opening::kNo);
  // The server's reply to it: an OK with sequence id 3.
  EXPECT_EQ(ClassifyOpening(OkPkt(3)), Opening::kServer);
  // tlstap started later: one whole command.
  EXPECT_EQ(ClassifyOpening(Pkt(0, "\x03SELECT 1")), Opening::kClient);
  EXPECT_EQ(ClassifyOpening(Pkt(0, "\x0e")), Opening::kClient);  // COM_PING
  EXPECT_EQ(ClassifyOpening(Pkt(0, "\x03SELECT 1").substr(0, 8)), Opening::kNeedMore);
  EXPECT_EQ(ClassifyOpening(Pkt(0, "\x03SELECT 1") + "x"), Opening::kNo);  // not one packet
}

TEST(MysqlOpening, NeverYesToHttp) {
  const std::vector<std::string> openings = {
      "GET / HTTP/1.1\r\nHost: example\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n",
      "POST /upload HTTP/1.1\r\nHost: 127.0.0.1:8443\r\nContent-Length: 2\r\n\r\nhi",
      "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Length: 5000\r\n\r\n",
      std::string(http2::kClientPreface) + "\x00\x00\x12\x04\x00\x00\x00\x00\x00"s,
      // A server's SETTINGS frame: length 18, type 4, flags 0, stream 0, then settings.
      "\x00\x00\x12\x04\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x80\x00\x04\x00\x01\x00\x00"s,
  };
  for (const std::string& o : openings) {
    for (size_t n = 1; n <= o.size(); ++n) {
      SCOPED_TRACE(o.substr(0, n));
      EXPECT_FALSE(protocols::takes(ClassifyOpening(o.substr(0, n))));
    }
    EXPECT_EQ(ClassifyOpening(o), protocols::Opening::kNo) << o;
  }
}

TEST(MysqlOpening, NotPostgresOpenings) {
  const std::vector<std::string> openings = {
      // StartupMessage: length 41, protocol 3.0, user, database.
      "\x00\x00\x00\x29\x00\x03\x00\x00user\0postgres\0database\0shop\0\0"s,
      // Query 'Q': length 13, "SELECT 1".
      "Q\x00\x00\x00\x0dSELECT 1\0"s,
      // AuthenticationOk, then ReadyForQuery 'Z' idle.
      "R\x00\x00\x00\x08\x00\x00\x00\x00Z\x00\x00\x00\x05I"s,
      // AuthenticationSASL: length 23, type 10, "SCRAM-SHA-256".
      "R\x00\x00\x00\x17\x00\x00\x00\x0aSCRAM-SHA-256\0\0"s,
  };
  for (const std::string& o : openings) {
    for (size_t n = 1; n <= o.size(); ++n) {
      EXPECT_FALSE(protocols::takes(ClassifyOpening(o.substr(0, n)))) << n;
    }
  }
}

TEST(MysqlPackets, JoinsPayloadsSplitAt0xffffffAndKeepsOnlyTheLimit) {
  PacketParser parser(16);
  std::string big(kMaxPacketLength, 'a');
  big[0] = 0x03;  // COM_QUERY
  std::string wire = Pkt(0, big) + Pkt(1, "tail");
  std::string_view in = wire;
  Packet p;
  // Fed in pieces of 1 MiB.
  ParseState state = ParseState::kNeedsMoreData;
  while (!in.empty()) {
    std::string_view piece = in.substr(0, 1 << 20);
    in.remove_prefix(piece.size());
    state = parser.ParseFrame(&piece, &p, 7);
    EXPECT_TRUE(piece.empty());
  }
  ASSERT_EQ(state, ParseState::kSuccess);
  EXPECT_EQ(p.seq, 0);
  EXPECT_EQ(p.last_seq, 1);
  EXPECT_EQ(p.payload_size, kMaxPacketLength + 4u);
  EXPECT_EQ(p.wire_size, kMaxPacketLength + 4u + 8u);
  EXPECT_EQ(p.payload, "\x03" + std::string(15, 'a'));
}

TEST(MysqlPackets, ByteLiteralOkPacket) {
  const std::string wire =
      "\x07\x00\x00"s  // payload length 7
      "\x01"s          // sequence id 1
      "\x00"s          // OK
      "\x03"s          // affected rows 3
      "\x00"s          // last insert id 0
      "\x22\x00"s      // status: autocommit, no index used
      "\x00\x00"s;     // warnings 0
  PacketParser parser(4096);
  std::string_view in = wire;
  Packet p;
  ASSERT_EQ(parser.ParseFrame(&in, &p, 1), ParseState::kSuccess);
  std::optional<Ok> ok = ParseOk(p.payload);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->affected_rows, 3u);
  EXPECT_EQ(ok->status, 0x22);
}

TEST(MysqlPackets, ByteLiteralErrPacket) {
  const std::string payload =
      "\xff"s                              // ERR
      "\x7a\x04"s                          // error 1146
      "#42S02"                             // SQL state marker and state
      "Table 'test.nope' doesn't exist"s;  // message
  std::optional<Err> err = ParseErr(payload);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, 1146);
  EXPECT_EQ(err->sql_state, "42S02");
  EXPECT_EQ(err->message, "Table 'test.nope' doesn't exist");
}

TEST(MysqlRecords, QueryWithTextRowsWithoutDeprecateEof) {
  Harness h;
  h.Login(kCapsEof);
  std::string query = Pkt(0, "\x03SELECT 1 AS a UNION SELECT 2");
  h.Send(Dir::kTx, query, 100);
  std::string response = Pkt(1, "\x01") +  // one column
                         Column(2, "a") + EofPkt(3) + Row(4, "1") + Row(5, "2") + EofPkt(6);
  h.Send(Dir::kRx, response.substr(0, 30), 150);
  EXPECT_TRUE(h.records.empty());
  h.Send(Dir::kRx, response.substr(30), 180);
  ASSERT_EQ(h.records.size(), 1u);
  const Record& r = h.records[0];
  EXPECT_EQ(r.proto, Proto::kMysql);
  EXPECT_EQ(r.method, "COM_QUERY");
  EXPECT_EQ(r.target, "SELECT 1 AS a UNION SELECT 2");
  EXPECT_EQ(r.status, kDbOk);
  EXPECT_EQ(r.rows, 2);
  EXPECT_EQ(r.request_bytes, query.size());
  EXPECT_EQ(r.response_bytes, response.size());
  EXPECT_EQ(r.ts_ns, 100u);
  EXPECT_EQ(r.latency_ns, 80u);
  EXPECT_TRUE(r.client);
  EXPECT_EQ(r.conn.pid, 42);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(h.tracker.stats().records, 1u);
}

TEST(MysqlRecords, QueryWithDeprecateEofAndAnEmptyResult) {
  Harness h;
  h.Login(kCapsNoEof);
  h.Send(Dir::kTx, Pkt(0, "\x03SELECT a FROM t"), 100);
  h.Send(Dir::kRx, Pkt(1, "\x01") + Column(2, "a") + Row(3, "x") + OkEofPkt(4), 200);
  h.Send(Dir::kTx, Pkt(0, "\x03SELECT a FROM t WHERE 0"), 300);
  h.Send(Dir::kRx, Pkt(1, "\x01") + Column(2, "a") + OkEofPkt(3), 400);
  ASSERT_EQ(h.records.size(), 2u);
  EXPECT_EQ(h.records[0].rows, 1);
  EXPECT_EQ(h.records[1].rows, 0);
  EXPECT_EQ(h.records[1].status, kDbOk);
}

TEST(MysqlRecords, ErrorNumberAndMessageWithoutTheSqlState) {
  Harness h;
  h.Login(kCaps);
  h.Send(Dir::kTx, Pkt(0, "\x03SELECT * FROM nope"), 100);
  h.Send(Dir::kRx, Pkt(1, "\xff\x7a\x04#42S02Table 'test.nope' doesn't exist"s), 200);
  ASSERT_EQ(h.records.size(), 1u);
  const Record& r = h.records[0];
  EXPECT_EQ(r.status, kDbError);
  EXPECT_EQ(r.db_error_code, "1146");
  EXPECT_EQ(r.db_error_message, "Table 'test.nope' doesn't exist");
  EXPECT_EQ(r.rows, -1);
  EXPECT_EQ(r.error, "");
}

TEST(MysqlRecords, AffectedRowsInitDbPing) {
  Harness h;
  h.Login(kCaps);
  h.Send(Dir::kTx, Pkt(0, "\x02test"), 100);  // COM_INIT_DB
  h.Send(Dir::kRx, OkPkt(1), 110);
  h.Send(Dir::kTx, Pkt(0, "\x03INSERT INTO t VALUES (1),(2),(3)"), 120);
  h.Send(Dir::kRx, OkPkt(1, 3), 130);
  h.Send(Dir::kTx, Pkt(0, "\x0e"), 140);  // COM_PING
  h.Send(Dir::kRx, OkPkt(1), 150);
  ASSERT_EQ(h.records.size(), 3u);
  EXPECT_EQ(h.records[0].method, "COM_INIT_DB");
  EXPECT_EQ(h.records[0].target, "test");
  EXPECT_EQ(h.records[1].rows, 3);
  EXPECT_EQ(h.records[2].method, "COM_PING");
  EXPECT_EQ(h.records[2].target, "");
  EXPECT_EQ(h.records[2].status, kDbOk);
}

// SERVER_MORE_RESULTS_EXIST with autocommit: another result follows.
constexpr uint16_t kMore = 0x0002 | kServerMoreResultsExist;

// `SELECT 'x' AS a; SELECT id FROM t` (CLIENT_MULTI_STATEMENTS): two result
// sets in one response, the first ending with the more-results flag. rows
// is the sum of both, with and without CLIENT_DEPRECATE_EOF, the longer
// result set first or last.
TEST(MysqlRecords, MultiStatementRowsAreSummedOverResultSets) {
  for (uint32_t caps : {kCapsEof, kCapsNoEof}) {
    const bool eof = caps == kCapsEof;
    SCOPED_TRACE(eof ? "EOF packets" : "CLIENT_DEPRECATE_EOF");
    // The first result set's end: EOF, or the OK with a 0xfe header.
    auto end = [&](uint8_t seq, uint16_t status) {
      return eof ? EofPkt(seq, status) : OkEofPkt(seq, status);
    };
    Harness h;
    h.Login(caps);
    h.Send(Dir::kTx, Pkt(0, "\x03SELECT 'x' AS a; SELECT id FROM t"), 100);
    std::string first = Pkt(1, "\x01")                             // one column
                        + Column(2, "a") + (eof ? EofPkt(3) : "")  // its definition
                        + Row(eof ? 4 : 3, "x")                    // one row
                        + end(eof ? 5 : 4, kMore);                 // more results follow
    uint8_t seq = eof ? 6 : 5;                                     // ids go on across results
    std::string second = Pkt(seq++, "\x01");                       // one column
    second += Column(seq++, "id");
    if (eof) second += EofPkt(seq++);
    for (const char* id : {"1", "2", "3", "4"}) second += Row(seq++, id);
    second += end(seq++, 0x0002);  // the last result
    h.Send(Dir::kRx, first, 200);
    EXPECT_TRUE(h.records.empty()) << "more results follow";
    h.Send(Dir::kRx, second, 300);
    ASSERT_EQ(h.records.size(), 1u);
    EXPECT_EQ(h.records[0].rows, 5) << "1 + 4";
    EXPECT_EQ(h.records[0].status, kDbOk);
    EXPECT_EQ(h.records[0].response_bytes, first.size() + second.size());
    EXPECT_EQ(h.records[0].error, "");

    // The longer first: `SELECT id FROM t; SELECT 1`.
    h.Send(Dir::kTx, Pkt(0, "\x03SELECT id FROM t; SELECT 1"), 400);
    seq = 1;
    std::string both = Pkt(seq++, "\x01");  // one column
    both += Column(seq++, "id");
    if (eof) both += EofPkt(seq++);
    for (const char* id : {"1", "2", "3", "4"}) both += Row(seq++, id);
    both += end(seq++, kMore);
    both += Pkt(seq++, "\x01");  // SELECT 1: one column
    both += Column(seq++, "1");
    if (eof) both += EofPkt(seq++);
    both += Row(seq++, "1");
    both += end(seq++, 0x0002);
    h.Send(Dir::kRx, both, 500);
    ASSERT_EQ(h.records.size(), 2u);
    EXPECT_EQ(h.records[1].rows, 5) << "4 + 1";
    EXPECT_EQ(h.tracker.stats().invalid, 0u);
  }
}

// An OK's affected rows and a result set's rows add up: `UPDATE t SET ...
// (2 rows); SELECT 1`; and a CALL of a procedure running two SELECTs,
// whose response ends with the CALL's own OK (0 affected rows).
TEST(MysqlRecords, AffectedAndReturnedRowsAddUpInMultiStatementsAndCall) {
  Harness h;
  h.Login(kCapsEof);
  h.Send(Dir::kTx, Pkt(0, "\x03UPDATE t SET a = 1 WHERE id < 3; SELECT 1"), 100);
  std::string update = OkPkt(1, 2, kMore)  // 2 rows affected, more results follow
                       + Pkt(2, "\x01") + Column(3, "1") + EofPkt(4)  // SELECT 1's column
                       + Row(5, "1") + EofPkt(6);                     // its row, the last result
  h.Send(Dir::kRx, update, 200);
  ASSERT_EQ(h.records.size(), 1u);
  EXPECT_EQ(h.records[0].rows, 3) << "2 affected + 1 returned";
  EXPECT_EQ(h.records[0].status, kDbOk);

  h.Send(Dir::kTx, Pkt(0, "\x03"s + "CALL p()"), 300);
  std::string call = Pkt(1, "\x01") + Column(2, "a") + EofPkt(3)     // the first SELECT
                     + Row(4, "x") + EofPkt(5, kMore)                // one row, more follow
                     + Pkt(6, "\x01") + Column(7, "id") + EofPkt(8)  // the second SELECT
                     + Row(9, "1") + Row(10, "2") + Row(11, "3") + Row(12, "4") +
                     EofPkt(13, kMore)  // four rows, more follow
                     + OkPkt(14);       // the CALL's own result: 0 affected
  h.Send(Dir::kRx, call.substr(0, call.size() - 11), 400);
  ASSERT_EQ(h.records.size(), 1u) << "the CALL's OK is still to come";
  h.Send(Dir::kRx, call.substr(call.size() - 11), 410);
  ASSERT_EQ(h.records.size(), 2u);
  EXPECT_EQ(h.records[1].target, "CALL p()");
  EXPECT_EQ(h.records[1].rows, 5) << "1 + 4 + 0";
  EXPECT_EQ(h.records[1].response_bytes, call.size());
  EXPECT_EQ(h.records[1].latency_ns, 110u);

  // An error after a result: the rows before it stay, the status is the error.
  h.Send(Dir::kTx, Pkt(0, "\x03SELECT 1; SELECT * FROM nope"), 500);
  h.Send(Dir::kRx,
         Pkt(1, "\x01") + Column(2, "1") + EofPkt(3) + Row(4, "1") + EofPkt(5, kMore) +
             Pkt(6, "\xff\x7a\x04#42S02Table 'test.nope' doesn't exist"s),
         600);
  ASSERT_EQ(h.records.size(), 3u);
  EXPECT_EQ(h.records[2].status, kDbError);
  EXPECT_EQ(h.records[2].db_error_code, "1146");
  EXPECT_EQ(h.records[2].rows, 1);
  EXPECT_EQ(h.tracker.stats().invalid, 0u);
}

// COM_STMT_PREPARE's reply, byte by byte.
std::string PrepareOkPkt(uint8_t id, uint8_t columns, uint8_t params) {
  return Pkt(1, "\x00"s                                        // OK
                    + static_cast<char>(id) + "\x00\x00\x00"s  // statement id
                    + static_cast<char>(columns) + "\x00"s     // columns
                    + static_cast<char>(params) + "\x00"s      // params
                    + "\x00"s                                  // reserved
                    + "\x00\x00"s);                            // warnings
}

TEST(MysqlRecords, PreparedStatementExecutedByIdShowsItsText) {
  for (bool deprecate : {false, true}) {
    SCOPED_TRACE(deprecate ? "CLIENT_DEPRECATE_EOF" : "EOF packets");
    Harness h;
    h.Login(deprecate ? kCapsNoEof : kCapsEof);
    const std::string text = "SELECT name FROM t WHERE id = ?";
    h.Send(Dir::kTx, Pkt(0, "\x16" + text), 100);
    std::string reply = PrepareOkPkt(7, 1, 1) + Column(2, "?");
    uint8_t seq = 3;
    if (!deprecate) reply += EofPkt(seq++);
    reply += Column(seq++, "name");
    if (!deprecate) reply += EofPkt(seq++);
    h.Send(Dir::kRx, reply, 110);
    ASSERT_EQ(h.records.size(), 1u);
    EXPECT_EQ(h.records[0].method, "COM_STMT_PREPARE");
    EXPECT_EQ(h.records[0].target, text);
    EXPECT_EQ(h.records[0].status, kDbOk);
    EXPECT_EQ(h.records[0].response_bytes, reply.size());
    // COM_STMT_EXECUTE: id 7, flags 0, iteration count 1, null bitmap, new
    // params bound, type LONGLONG, value 1.
    h.Send(Dir::kTx,
           Pkt(0,
               "\x17\x07\x00\x00\x00\x00\x01\x00\x00\x00\x00\x01\x08\x00"
               "\x01\x00\x00\x00\x00\x00\x00\x00"s),
           120);
    // Binary rows start with 0x00; with MariaDB's metadata caching the
    // column count carries a 0: no definitions follow.
    std::string rows = Pkt(1, "\x01\x00"s);
    seq = 2;
    if (!deprecate) rows += EofPkt(seq++);
    rows += Pkt(seq++, "\x00\x00\x03one"s);  // header, null bitmap, "one"
    rows += Pkt(seq++, "\x00\x00\x03two"s);
    rows += deprecate ? OkEofPkt(seq) : EofPkt(seq);
    h.Send(Dir::kRx, rows, 130);
    h.Send(Dir::kTx, Pkt(0, "\x1a\x07\x00\x00\x00"s), 140);  // COM_STMT_RESET
    h.Send(Dir::kRx, OkPkt(1), 150);
    h.Send(Dir::kTx, Pkt(0, "\x19\x07\x00\x00\x00"s), 160);  // COM_STMT_CLOSE: no reply
    h.Send(Dir::kTx, Pkt(0, "\x17\x07\x00\x00\x00\x00\x01\x00\x00\x00"s), 170);
    h.Send(Dir::kRx, Pkt(1, "\xff\x13\x07#HY000Unknown prepared statement handler"s), 180);
    ASSERT_EQ(h.records.size(), 5u);
    EXPECT_EQ(h.records[1].method, "COM_STMT_EXECUTE");
    EXPECT_EQ(h.records[1].target, text);
    EXPECT_EQ(h.records[1].rows, 2);
    EXPECT_EQ(h.records[1].status, kDbOk);
    EXPECT_EQ(h.records[2].method, "COM_STMT_RESET");
    EXPECT_EQ(h.records[2].target, text);
    EXPECT_EQ(h.records[3].method, "COM_STMT_CLOSE");
    EXPECT_EQ(h.records[3].target, text);
    EXPECT_EQ(h.records[3].status, 0) << "COM_STMT_CLOSE has no response";
    EXPECT_EQ(h.records[3].error, "");
    EXPECT_EQ(h.records[4].target, "") << "closed: no longer known";
    EXPECT_EQ(h.records[4].db_error_code, "1811");
  }
}

TEST(MysqlRecords, SequenceIdsWrapInLongResultSetsWhileCommandsWait) {
  Harness h;
  h.Login(kCapsEof);
  // MariaDB's connectors may send the next command before the answer.
  h.Send(Dir::kTx, Pkt(0, "\x03SELECT a FROM t") + Pkt(0, "\x0e"), 100);
  std::string response = Pkt(1, "\x01") + Column(2, "a") + EofPkt(3);
  uint8_t seq = 4;
  for (int i = 0; i < 300; ++i) response += Row(seq++, "x");  // seq wraps through 1
  response += EofPkt(seq);
  h.Send(Dir::kRx, response, 110);
  h.Send(Dir::kRx, OkPkt(1), 120);
  ASSERT_EQ(h.records.size(), 2u);
  EXPECT_EQ(h.records[0].rows, 300);
  EXPECT_EQ(h.records[0].error, "");
  EXPECT_EQ(h.records[1].method, "COM_PING");
  EXPECT_EQ(h.records[1].status, kDbOk);
  EXPECT_EQ(h.tracker.stats().invalid, 0u);
}

TEST(MysqlRecords, MariadbPipelinedPrepareAndExecuteOfTheLastStatement) {
  Harness h;
  h.Login(kCapsEof);
  const std::string text = "SELECT 1";
  // mariadb_stmt_execute_direct: COM_STMT_PREPARE and COM_STMT_EXECUTE
  // with statement id 0xffffffff (the one prepared last), in one call.
  h.Send(Dir::kTx, Pkt(0, "\x16" + text) + Pkt(0, "\x17\xff\xff\xff\xff\x00\x01\x00\x00\x00"s),
         100);
  h.Send(Dir::kRx, PrepareOkPkt(9, 1, 0) + Column(2, "1") + EofPkt(3), 110);
  h.Send(Dir::kRx,
         Pkt(1, "\x01"s) + Column(2, "1") + EofPkt(3) + Pkt(4, "\x00\x00\x01\x00\x00\x00"s) +
             EofPkt(5),
         120);
  ASSERT_EQ(h.records.size(), 2u);
  EXPECT_EQ(h.records[0].method, "COM_STMT_PREPARE");
  EXPECT_EQ(h.records[1].method, "COM_STMT_EXECUTE");
  EXPECT_EQ(h.records[1].target, text);
  EXPECT_EQ(h.records[1].rows, 1);
  EXPECT_EQ(h.records[1].error, "");
}

TEST(MysqlRecords, DeprecateEofInferredWithoutTheHandshake) {
  for (bool deprecate : {false, true}) {
    Harness h;
    // tlstap started after the login: the first bytes are a command.
    h.Send(Dir::kTx, Pkt(0, "\x03SELECT 1"), 100);
    std::string response = Pkt(1, "\x01") + Column(2, "1");
    uint8_t seq = 3;
    if (!deprecate) response += EofPkt(seq++);
    response += Row(seq++, "1");
    response += deprecate ? OkEofPkt(seq) : EofPkt(seq);
    h.Send(Dir::kRx, response, 110);
    ASSERT_EQ(h.records.size(), 1u);
    EXPECT_EQ(h.records[0].rows, 1);
    EXPECT_EQ(h.records[0].error, "");
    EXPECT_EQ(h.tracker.stats().invalid, 0u);
  }
}

TEST(MysqlRecords, ServerSideRecordsAreNotTheClients) {
  Harness h;
  h.Send(Dir::kRx, HandshakeResponse(kCaps), 10);  // mariadbd reads it
  h.Send(Dir::kTx, OkPkt(3), 20);
  h.Send(Dir::kRx, Pkt(0, "\x0e"), 30);
  h.Send(Dir::kTx, OkPkt(1), 40);
  ASSERT_EQ(h.records.size(), 1u);
  EXPECT_FALSE(h.records[0].client);
  EXPECT_EQ(h.records[0].method, "COM_PING");
  EXPECT_EQ(h.records[0].latency_ns, 10u);
}

TEST(MysqlRecords, LocalInfileDoesNotDerail) {
  Harness h;
  h.Login(kCaps);
  std::string cmd = Pkt(0, "\x03LOAD DATA LOCAL INFILE '/tmp/x' INTO TABLE t");
  h.Send(Dir::kTx, cmd, 100);
  h.Send(Dir::kRx, Pkt(1, "\xfb/tmp/x"), 110);  // the server asks for the file
  h.Send(Dir::kTx, Pkt(2, "1\n2\n"), 120);      // its contents
  h.Send(Dir::kTx, Pkt(3, ""), 121);            // the end of the file
  h.Send(Dir::kRx, OkPkt(4, 2), 130);
  h.Send(Dir::kTx, Pkt(0, "\x0e"), 140);
  h.Send(Dir::kRx, OkPkt(1), 150);
  ASSERT_EQ(h.records.size(), 2u);
  EXPECT_EQ(h.records[0].rows, 2);
  EXPECT_EQ(h.records[0].request_bytes, cmd.size() + 8 + 4);
  EXPECT_EQ(h.records[1].method, "COM_PING");
  EXPECT_EQ(h.tracker.stats().invalid, 0u);
}

TEST(MysqlRecords, LongStatementIsCutAndCounted) {
  std::vector<Record> records;
  Limits limits;
  limits.max_payload_kept = 64;
  Tracker tracker([&](Record&& r) { records.push_back(std::move(r)); }, limits);
  streams::ConnInfo info = Info();
  std::string text = "SELECT '" + std::string(200, 'x') + "'";
  std::string cmd = Pkt(0, "\x03" + text);
  tracker.on_data(info, Dir::kTx, 0, cmd, 1);
  tracker.on_data(info, Dir::kRx, 0, OkPkt(1), 2);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].target, text.substr(0, 63));
  EXPECT_EQ(records[0].request_bytes, cmd.size());
  EXPECT_EQ(tracker.stats().overflows, 1u);
}

TEST(MysqlRecords, GapInsideARowAndOverAHeader) {
  Harness h;
  h.Login(kCapsEof);
  h.Send(Dir::kTx, Pkt(0, "\x03SELECT a FROM t"), 100);
  std::string start = Pkt(1, "\x01") + Column(2, "a") + EofPkt(3);
  std::string row = Row(4, "abcdefgh");
  h.Send(Dir::kRx, start + row.substr(0, 6), 110);
  h.Gap(Dir::kRx, 3);  // inside the row's payload
  h.Send(Dir::kRx, row.substr(9) + EofPkt(5), 120);
  ASSERT_EQ(h.records.size(), 1u);
  EXPECT_EQ(h.records[0].rows, 1);
  EXPECT_EQ(h.records[0].error, "response cut short by lost bytes");
  // A gap over a header: that response ends there; the next command's resumes.
  h.Send(Dir::kTx, Pkt(0, "\x03SELECT a FROM t"), 200);
  h.Send(Dir::kRx, start, 210);
  h.Gap(Dir::kRx, 30);
  h.Send(Dir::kRx, "garbage", 215);
  h.Send(Dir::kTx, Pkt(0, "\x0e"), 220);
  h.Send(Dir::kRx, OkPkt(1), 230);
  ASSERT_EQ(h.records.size(), 3u);
  EXPECT_EQ(h.records[1].error, "response bytes lost");
  EXPECT_EQ(h.records[2].method, "COM_PING");
  EXPECT_EQ(h.records[2].status, kDbOk);
  EXPECT_EQ(h.records[2].error, "");
  EXPECT_EQ(h.tracker.stats().gaps, 2u);
  EXPECT_EQ(h.tracker.stats().skipped_bytes, 7u);
}

TEST(MysqlRecords, GapInTheCommandsResumesAtTheNextCommand) {
  Harness h;
  h.Login(kCaps);
  h.Gap(Dir::kTx, 20);
  h.Send(Dir::kTx, "junk" + Pkt(0, "\x03SELECT 2"), 100);
  h.Send(Dir::kRx, OkPkt(1), 110);
  ASSERT_EQ(h.records.size(), 1u);
  EXPECT_EQ(h.records[0].target, "SELECT 2");
  EXPECT_EQ(h.tracker.stats().skipped_bytes, 4u);
}

TEST(MysqlRecords, CloseMakesRecordsOfCommandsWaiting) {
  Harness h;
  h.Login(kCaps);
  h.Send(Dir::kTx, Pkt(0, "\x03SELECT SLEEP(10)"), 100);
  h.tracker.on_close(h.info, streams::CloseReason::kClosed);
  ASSERT_EQ(h.records.size(), 1u);
  EXPECT_EQ(h.records[0].error, "no response");
  EXPECT_EQ(h.records[0].status, 0);
  EXPECT_EQ(h.tracker.connections(), 0u);
}

TEST(MysqlRecords, CompressedProtocolIsCountedNotParsed) {
  Harness h;
  h.Send(Dir::kTx, HandshakeResponse(kCaps | kClientCompress), 10);
  h.Send(Dir::kRx, "\x0b\x00\x00\x00\x00\x00\x07\x00\x00\x03\x00\x00\x00\x02\x00\x00\x00"s, 20);
  h.tracker.on_close(h.info, streams::CloseReason::kClosed);
  EXPECT_TRUE(h.records.empty());
  EXPECT_EQ(h.tracker.stats().compressed, 1u);
}

TEST(MysqlRecords, QueryAttributesOfMysql8) {
  Harness h;
  h.Login(kCaps | kClientQueryAttributes);
  // COM_QUERY, parameter count 0, parameter set count 1, the text.
  h.Send(Dir::kTx, Pkt(0, "\x03\x00\x01SELECT 1"s), 100);
  h.Send(Dir::kRx, Pkt(1, "\x01") + Column(2, "1") + EofPkt(3) + Row(4, "1") + EofPkt(5), 110);
  // With one attribute: count 1, set count 1, null bitmap, bound flag, type, name, value.
  h.Send(Dir::kTx, Pkt(0, "\x03\x01\x01\x00\x01\xfe\x00\x01a\x01xSELECT 2"s), 120);
  h.Send(Dir::kRx, OkPkt(1), 130);
  ASSERT_EQ(h.records.size(), 2u);
  EXPECT_EQ(h.records[0].target, "SELECT 1");
  EXPECT_EQ(h.records[0].rows, 1);
  EXPECT_EQ(h.records[1].target, "") << "attribute values are not read";
  EXPECT_EQ(h.records[1].status, kDbOk);
}

TEST(MysqlRecords, ResponseThatDoesNotFitItsCommandIsNotUnderstood) {
  Harness h;
  h.Login(kCaps);
  h.Send(Dir::kTx, Pkt(0, "\x16SELECT 1"), 100);   // COM_STMT_PREPARE
  h.Send(Dir::kRx, Pkt(1, "\x00\x01"s), 110);      // an OK too short for a prepare's
  h.Send(Dir::kRx, Pkt(2, "\x00\x00\x00"s), 111);  // more of it: skipped
  h.Send(Dir::kTx, Pkt(0, "\x0e"), 120);
  h.Send(Dir::kRx, OkPkt(1), 130);
  ASSERT_EQ(h.records.size(), 2u);
  EXPECT_EQ(h.records[0].error, "response not understood");
  EXPECT_EQ(h.records[1].method, "COM_PING");
  EXPECT_EQ(h.records[1].error, "");
  EXPECT_EQ(h.tracker.stats().invalid, 1u);
  EXPECT_EQ(h.tracker.stats().skipped_bytes, 7u);
}

}  // namespace
}  // namespace tlstap::protocols::mysql
