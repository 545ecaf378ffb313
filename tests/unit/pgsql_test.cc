// PostgreSQL protocol 3.0: the opening classifier, message framing and the
// pairing of client messages with the server's answers, on byte literals
// (one comment per field), fed as the reassembler hands them on: whole,
// split anywhere, with notices between, or with bytes lost.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "protocols/http2/parse.h"
#include "protocols/http2/tracker.h"
#include "protocols/pgsql/parse.h"
#include "protocols/pgsql/stitch.h"
#include "protocols/pgsql/tracker.h"
#include "protocols/router.h"
#include "streams/reassembler.h"

namespace tlstap::protocols::pgsql {
namespace {

using capture::Dir;
using namespace std::literals;

// psql's StartupMessage (untagged), as libpq 15 sends it over TLS.
const std::string kStartup =
    "\x00\x00\x00\x38"    // length 56, itself included
    "\x00\x03\x00\x00"    // protocol 3.0 (196608)
    "user\0"              // parameter name
    "alice\0"             //   value
    "database\0"          // parameter name
    "shop\0"              //   value
    "application_name\0"  // parameter name
    "psql\0"              //   value
    "\0"s;                // end of the parameters

// The server's answer to the startup, up to ReadyForQuery (trust auth).
const std::string kStartupAnswer =
    "R\x00\x00\x00\x08"  // Authentication, length 8
    "\x00\x00\x00\x00"   //   AuthenticationOk
    "S\x00\x00\x00\x19"  // ParameterStatus, length 25
    "server_version\0"
    "15.8\0"             //   name, value
    "K\x00\x00\x00\x0c"  // BackendKeyData, length 12
    "\x00\x00\x30\x39"   //   process id 12345
    "\x01\x02\x03\x04"   //   secret key
    "Z\x00\x00\x00\x05"  // ReadyForQuery, length 5
    "I"s;                //   idle

// Query "SELECT 1;" (simple protocol).
const std::string kQuerySelect =
    "Q\x00\x00\x00\x0e"  // Query, length 14
    "SELECT 1;\0"s;      //   the text, NUL-terminated

// Its answer: one column, one row.
const std::string kSelectAnswer =
    "T\x00\x00\x00\x21"  // RowDescription, length 33
    "\x00\x01"           //   1 field
    "?column?\0"         //   name
    "\x00\x00\x00\x00"   //   table oid 0
    "\x00\x00"           //   column 0
    "\x00\x00\x00\x17"   //   type oid 23 (int4)
    "\x00\x04"           //   type size 4
    "\xff\xff\xff\xff"   //   type modifier -1
    "\x00\x00"           //   text format
    "D\x00\x00\x00\x0b"  // DataRow, length 11
    "\x00\x01"           //   1 column
    "\x00\x00\x00\x01"   //   value length 1
    "1"                  //   the value
    "C\x00\x00\x00\x0d"  // CommandComplete, length 13
    "SELECT 1\0"         //   the tag
    "Z\x00\x00\x00\x05"  // ReadyForQuery, length 5
    "I"s;                //   idle

// An ErrorResponse for a missing table, then ReadyForQuery.
const std::string kMissingTableAnswer =
    "E\x00\x00\x00\x3e"                    // ErrorResponse, length 62
    "SERROR\0"                             //   severity (localised)
    "VERROR\0"                             //   severity
    "C42P01\0"                             //   SQLSTATE
    "Mrelation \"nope\" does not exist\0"  //   message
    "P15\0"                                //   position
    "\0"                                   //   end of the fields
    "Z\x00\x00\x00\x05"                    // ReadyForQuery, length 5
    "I"s;                                  //   idle

// Builds a tagged message: tag, int32 length (payload + 4), payload. For
// the flows below, where the fields are spelt out at each call.
std::string Msg(char tag, std::string_view payload) {
  uint32_t n = static_cast<uint32_t>(payload.size() + 4);
  std::string m(1, tag);
  for (int shift : {24, 16, 8, 0}) m += static_cast<char>((n >> shift) & 0xff);
  m += payload;
  return m;
}

TEST(PgsqlOpening, StartupIsAClientAndAuthenticationAServer) {
  EXPECT_EQ(ClassifyOpening(kStartup), Opening::kClient);
  EXPECT_EQ(ClassifyOpening(kStartupAnswer), Opening::kServer);
  // SASL: 'R', length 23, code 10, "SCRAM-SHA-256\0\0".
  EXPECT_EQ(ClassifyOpening("R\x00\x00\x00\x17\x00\x00\x00\x0aSCRAM-SHA-256\0\0"s),
            Opening::kServer);
  for (size_t n = 1; n < 8; ++n) {
    EXPECT_EQ(ClassifyOpening(kStartup.substr(0, n)), Opening::kNeedMore) << n;
  }
  for (size_t n = 1; n < 9; ++n) {
    EXPECT_EQ(ClassifyOpening(kStartupAnswer.substr(0, n)), Opening::kNeedMore) << n;
  }
  // SSLRequest (80877103) is cleartext, before TLS: not an opening we see.
  EXPECT_EQ(ClassifyOpening("\x00\x00\x00\x08\x04\xd2\x16\x2f"s), Opening::kNo);
  // Protocol 2.0 is not parsed.
  EXPECT_EQ(ClassifyOpening("\x00\x00\x00\x3e\x00\x02\x00\x00"s), Opening::kNo);
  // Authentication code 4 does not exist.
  EXPECT_EQ(ClassifyOpening("R\x00\x00\x00\x08\x00\x00\x00\x04"s), Opening::kNo);
}

// Real HTTP/1 and HTTP/2 openings, cut at every length up to what the
// Router holds: never a yes, and a no as soon as the first byte says so.
TEST(PgsqlOpening, NeverYesToHttp) {
  const std::vector<std::string> openings = {
      "GET /index.html HTTP/1.1\r\nHost: localhost\r\nUser-Agent: curl/7.88.1\r\n\r\n",
      "POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n\r\nabc",
      "REPORT /cal HTTP/1.1\r\nHost: localhost\r\n\r\n",  // starts with 'R' like Authentication
      "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Length: 5\r\n\r\nhello",
      "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
      "\x00\x00\x12\x04\x00\x00\x00\x00\x00"    // SETTINGS, length 18
      "\x00\x03\x00\x00\x00\x64"                //   MAX_CONCURRENT_STREAMS 100
      "\x00\x04\x02\x00\x00\x00"                //   INITIAL_WINDOW_SIZE
      "\x00\x02\x00\x00\x00\x00"s,              //   ENABLE_PUSH 0
      "\x00\x00\x12\x04\x00\x00\x00\x00\x00"    // nginx's first SETTINGS, length 18
      "\x00\x03\x00\x00\x00\x80"                //   MAX_CONCURRENT_STREAMS 128
      "\x00\x04\x00\x01\x00\x00"                //   INITIAL_WINDOW_SIZE 65536
      "\x00\x05\x00\xff\xff\xff"s,              //   MAX_FRAME_SIZE
      "\x00\x00\x00\x04\x00\x00\x00\x00\x00"s,  // an empty server SETTINGS
  };
  for (const std::string& o : openings) {
    for (size_t n = 1; n <= std::min(o.size(), Router::kMaxHeld); ++n) {
      EXPECT_FALSE(protocols::takes(ClassifyOpening(o.substr(0, n))))
          << n << " bytes of " << o.substr(0, 16);
    }
    EXPECT_EQ(ClassifyOpening(o), protocols::Opening::kNo) << o.substr(0, 16);
  }
  // And HTTP/2's classifier says no to ours.
  EXPECT_EQ(http2::ClassifyOpening(kStartup), protocols::Opening::kNo);
  EXPECT_EQ(http2::ClassifyOpening(kStartupAnswer), protocols::Opening::kNo);
}

TEST(PgsqlTypes, RowsOfCommandTag) {
  EXPECT_EQ(RowsOfCommandTag("SELECT 3"), 3);
  EXPECT_EQ(RowsOfCommandTag("INSERT 0 1"), 1);
  EXPECT_EQ(RowsOfCommandTag("UPDATE 12"), 12);
  EXPECT_EQ(RowsOfCommandTag("DELETE 0"), 0);
  EXPECT_EQ(RowsOfCommandTag("COPY 3"), 3);
  EXPECT_EQ(RowsOfCommandTag("MERGE 2"), 2);
  EXPECT_EQ(RowsOfCommandTag("CREATE TABLE"), -1);
  EXPECT_EQ(RowsOfCommandTag("BEGIN"), -1);
  EXPECT_EQ(RowsOfCommandTag("SELECT x"), -1);
}

TEST(PgsqlTypes, ErrorFields) {
  ErrorFields e = ParseErrorFields(kMissingTableAnswer.substr(5, 62 - 4));
  EXPECT_EQ(e.severity, "ERROR");
  EXPECT_EQ(e.code, "42P01");
  EXPECT_EQ(e.message, "relation \"nope\" does not exist");
}

TEST(PgsqlParser, StartupThenQuerySplitAnywhere) {
  const std::string in = kStartup + kQuerySelect;
  for (size_t cut = 0; cut <= in.size(); ++cut) {
    MessageParser p(/*client=*/true, 8192);
    std::vector<Message> got;
    for (std::string_view part :
         {std::string_view(in).substr(0, cut), std::string_view(in).substr(cut)}) {
      while (!part.empty()) {
        Message m;
        ParseState s = p.ParseFrame(&part, &m, cut);
        if (s == ParseState::kSuccess) got.push_back(std::move(m));
        if (s == ParseState::kNeedsMoreData) break;
      }
    }
    ASSERT_EQ(got.size(), 2u) << cut;
    EXPECT_EQ(got[0].tag, 0);
    EXPECT_EQ(got[0].length, 56u);
    EXPECT_EQ(got[0].wire_size(), 56u);
    EXPECT_EQ(got[1].tag, 'Q');
    EXPECT_EQ(got[1].payload, "SELECT 1;\0"s);
    EXPECT_EQ(got[1].wire_size(), kQuerySelect.size());
  }
}

// A DataRow that says it is 1 GiB long: counted as it passes, never held.
TEST(PgsqlParser, HugeMessagesAreCountedNotKept) {
  MessageParser p(/*client=*/false, 64);
  std::string_view header = "D\x40\x00\x00\x00"sv;  // DataRow, length 1 GiB
  Message m;
  EXPECT_EQ(p.ParseFrame(&header, &m, 1), ParseState::kNeedsMoreData);
  std::string chunk(1 << 20, 'x');
  for (int i = 0; i < 1023; ++i) {
    std::string_view c = chunk;
    ASSERT_EQ(p.ParseFrame(&c, &m, 2), ParseState::kNeedsMoreData);
  }
  std::string_view last = std::string_view(chunk).substr(0, (1 << 20) - 4);
  ASSERT_EQ(p.ParseFrame(&last, &m, 3), ParseState::kSuccess);
  EXPECT_EQ(m.wire_size(), (1ull << 30) + 1);
  EXPECT_TRUE(m.payload.empty());
  // A Query longer than what is kept: cut, counted.
  MessageParser client(/*client=*/true, 64);
  std::string startup = kStartup;
  std::string_view s = startup;
  ASSERT_EQ(client.ParseFrame(&s, &m, 1), ParseState::kSuccess);
  std::string q = Msg('Q', std::string(1000, 'a') + '\0');  // Query, 1001 bytes of text
  std::string_view qv = q;
  ASSERT_EQ(client.ParseFrame(&qv, &m, 2), ParseState::kSuccess);
  EXPECT_EQ(m.payload.size(), 64u);
  EXPECT_TRUE(m.payload_cut);
  EXPECT_EQ(client.cut(), 1u);
  // Over 1 GiB is no PostgreSQL message.
  std::string_view huge = "D\x40\x00\x00\x05"sv;  // DataRow, length 1 GiB + 1
  MessageParser fresh(/*client=*/false, 64);
  EXPECT_EQ(fresh.ParseFrame(&huge, &m, 1), ParseState::kInvalid);
}

// Garbage, then a message: the parser skips to it.
TEST(PgsqlParser, ResynchronisesAfterGarbage) {
  MessageParser p(/*client=*/false, 8192);
  std::string in = "\xff\xfe garbage" + kSelectAnswer;
  std::string_view v = in;
  std::vector<char> tags;
  while (!v.empty()) {
    Message m;
    ParseState s = p.ParseFrame(&v, &m, 1);
    if (s == ParseState::kSuccess) tags.push_back(m.tag);
    if (s == ParseState::kNeedsMoreData) break;
  }
  EXPECT_EQ(std::string(tags.begin(), tags.end()), "TDCZ");
  EXPECT_EQ(p.invalid(), 1u);
  EXPECT_EQ(p.skipped_bytes(), 10u);
}

streams::ConnInfo Info() {
  streams::ConnInfo info;
  info.conn_id = 7;
  info.pid = 42;
  info.fd = 5;
  info.comm = "psql";
  return info;
}

// A connection fed to the tracker as a client (tx = client's messages).
struct Session {
  std::vector<Record> records;
  Tracker tracker{[this](Record&& r) { records.push_back(std::move(r)); }};
  streams::ConnInfo info = Info();
  uint64_t pos[2] = {0, 0};
  uint64_t ts = 1000;
  Dir client = Dir::kTx;

  void send(const std::string& bytes) { feed(client, bytes); }
  void answer(const std::string& bytes) { feed(capture::opposite(client), bytes); }
  void feed(Dir d, const std::string& bytes) {
    ts += 100;
    tracker.on_data(info, d, pos[capture::dir_index(d)], bytes, ts);
    pos[capture::dir_index(d)] += bytes.size();
  }
  void start() {
    send(kStartup);
    answer(kStartupAnswer);
  }
  void close() { tracker.on_close(info, streams::CloseReason::kClosed); }
};

TEST(PgsqlTracker, SimpleQuery) {
  Session s;
  s.start();
  s.send(kQuerySelect);
  s.answer(kSelectAnswer);
  ASSERT_EQ(s.records.size(), 1u);
  const Record& r = s.records[0];
  EXPECT_EQ(r.proto, Proto::kPostgres);
  EXPECT_EQ(r.method, "Query");
  EXPECT_EQ(r.target, "SELECT 1;");
  EXPECT_EQ(r.status, kDbOk);
  EXPECT_EQ(r.rows, 1);
  EXPECT_EQ(r.request_bytes, kQuerySelect.size());
  EXPECT_EQ(r.response_bytes, kSelectAnswer.size());
  EXPECT_EQ(r.ts_ns, 1300u);
  EXPECT_EQ(r.latency_ns, 100u);
  EXPECT_TRUE(r.client);
  EXPECT_EQ(r.conn.pid, 42);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.db_error_code, "");
  s.close();
  EXPECT_EQ(s.records.size(), 1u);
  EXPECT_EQ(s.tracker.connections(), 0u);
  EXPECT_EQ(s.tracker.stats().records, 1u);
  EXPECT_EQ(s.tracker.stats().async, 1u);  // the ParameterStatus
}

// The server's side: the startup arrives (rx) and answers leave (tx).
TEST(PgsqlTracker, ServerSide) {
  Session s;
  s.client = Dir::kRx;
  s.start();
  s.send(kQuerySelect);
  s.answer(kSelectAnswer);
  ASSERT_EQ(s.records.size(), 1u);
  EXPECT_FALSE(s.records[0].client);
  EXPECT_EQ(s.records[0].target, "SELECT 1;");
}

TEST(PgsqlTracker, MissingTableIsAServerError) {
  Session s;
  s.start();
  s.send(Msg('Q', "SELECT * FROM nope\0"s));  // Query
  s.answer(kMissingTableAnswer);
  ASSERT_EQ(s.records.size(), 1u);
  const Record& r = s.records[0];
  EXPECT_EQ(r.target, "SELECT * FROM nope");
  EXPECT_EQ(r.status, kDbError);
  EXPECT_EQ(r.db_error_code, "42P01");
  EXPECT_EQ(r.db_error_message, "relation \"nope\" does not exist");
  EXPECT_EQ(r.rows, -1);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(s.tracker.stats().db_errors, 1u);
  EXPECT_EQ(s.tracker.stats().errors, 0u);
}

// Two statements in one Query: one record, the rows of both tags summed;
// a NoticeResponse between them changes nothing.
TEST(PgsqlTracker, SeveralStatementsInOneQueryAreOneRecord) {
  Session s;
  s.start();
  s.send(Msg('Q', "INSERT INTO t VALUES (1); UPDATE t SET a = 2\0"s));
  s.answer(Msg('C', "INSERT 0 1\0"s) +                 // CommandComplete
           Msg('N', "SNOTICE\0C00000\0Mhello\0\0"s) +  // NoticeResponse
           Msg('C', "UPDATE 3\0"s) +                   // CommandComplete
           Msg('Z', "I"));                             // ReadyForQuery
  ASSERT_EQ(s.records.size(), 1u);
  EXPECT_EQ(s.records[0].rows, 4);
  EXPECT_EQ(s.records[0].status, kDbOk);
  EXPECT_EQ(s.records[0].target, "INSERT INTO t VALUES (1); UPDATE t SET a = 2");
}

TEST(PgsqlTracker, EmptyQueryAndStatementsWithoutRows) {
  Session s;
  s.start();
  s.send(Msg('Q', "\0"s));
  s.answer(Msg('I', "") + Msg('Z', "I"));  // EmptyQueryResponse, ReadyForQuery
  s.send(Msg('Q', "CREATE TABLE t (a int)\0"s));
  s.answer(Msg('C', "CREATE TABLE\0"s) + Msg('Z', "I"));
  ASSERT_EQ(s.records.size(), 2u);
  EXPECT_EQ(s.records[0].target, "");
  EXPECT_EQ(s.records[0].status, kDbOk);
  EXPECT_EQ(s.records[0].rows, -1);
  EXPECT_EQ(s.records[1].rows, -1);
}

// libpq's PQprepare (Parse "ins" + Sync) then PQexecPrepared (Bind,
// Describe portal, Execute, Sync), each batch sent in one write: one
// record, the Execute's, carrying the prepared text.
TEST(PgsqlTracker, NamedStatementExecuted) {
  Session s;
  s.start();
  const std::string prepare =
      Msg('P', "ins\0INSERT INTO t VALUES ($1)\0\x00\x01\x00\x00\x00\x17"s)  // Parse: name,
                                                                             // text, 1 param int4
      + Msg('S', "");                                                        // Sync
  s.send(prepare);
  s.answer(Msg('1', "") + Msg('Z', "I"));  // ParseComplete, ReadyForQuery
  EXPECT_TRUE(s.records.empty()) << "a Parse that succeeds is no record";
  const std::string exec = Msg('B',
                               "\0ins\0\x00\x00\x00\x01\x00\x00\x00\x01"
                               "7\x00\x00"s)   // Bind: portal "", statement "ins", no formats,
                                               // 1 param of length 1 "7", no result formats
                           + Msg('D', "P\0"s)  // Describe portal ""
                           + Msg('E', "\0\x00\x00\x00\x00"s)  // Execute portal "", no row limit
                           + Msg('S', "");                    // Sync
  s.send(exec);
  const std::string answer = Msg('2', "") + Msg('n', "") + Msg('C', "INSERT 0 1\0"s) +
                             Msg('Z', "I");  // BindComplete, NoData, CommandComplete, RFQ
  s.answer(answer);
  ASSERT_EQ(s.records.size(), 1u);
  const Record& r = s.records[0];
  EXPECT_EQ(r.method, "Execute");
  EXPECT_EQ(r.target, "INSERT INTO t VALUES ($1)");
  EXPECT_EQ(r.rows, 1);
  EXPECT_EQ(r.status, kDbOk);
  EXPECT_EQ(r.request_bytes, exec.size());
  EXPECT_EQ(r.response_bytes, answer.size());
  EXPECT_EQ(r.latency_ns, 100u);
}

// PQexecParams: Parse (unnamed), Bind, Describe, Execute, Sync in one write.
TEST(PgsqlTracker, UnnamedStatementInOneBatch) {
  Session s;
  s.start();
  const std::string batch = Msg('P', "\0SELECT $1::int + 1\0\x00\x00"s)  // Parse "", no types
                            + Msg('B',
                                  "\0\0\x00\x00\x00\x01\x00\x00\x00\x01"
                                  "1\x00\x00"s)                // Bind "" to ""
                            + Msg('D', "P\0"s)                 // Describe portal
                            + Msg('E', "\0\x00\x00\x00\x00"s)  // Execute
                            + Msg('S', "");                    // Sync
  s.send(batch);
  const std::string answer =
      Msg('1', "") + Msg('2', "") + kSelectAnswer;  // ParseComplete, BindComplete, T D C Z
  s.answer(answer);
  ASSERT_EQ(s.records.size(), 1u);
  EXPECT_EQ(s.records[0].method, "Execute");
  EXPECT_EQ(s.records[0].target, "SELECT $1::int + 1");
  EXPECT_EQ(s.records[0].rows, 1);
  EXPECT_EQ(s.records[0].request_bytes, batch.size());
  EXPECT_EQ(s.records[0].response_bytes, answer.size());
}

// A Parse that fails: its record; the server skips the Bind and Execute
// sent with it up to the Sync.
TEST(PgsqlTracker, FailedParseIsTheBatchRecord) {
  Session s;
  s.start();
  const std::string batch = Msg('P', "\0SELEC 1\0\x00\x00"s)             // Parse
                            + Msg('B', "\0\0\x00\x00\x00\x00\x00\x00"s)  // Bind
                            + Msg('E', "\0\x00\x00\x00\x00"s)            // Execute
                            + Msg('S', "");                              // Sync
  s.send(batch);
  s.answer(Msg('E', "SERROR\0C42601\0Msyntax error at or near \"SELEC\"\0\0"s) + Msg('Z', "I"));
  ASSERT_EQ(s.records.size(), 1u);
  const Record& r = s.records[0];
  EXPECT_EQ(r.method, "Parse");
  EXPECT_EQ(r.target, "SELEC 1");
  EXPECT_EQ(r.status, kDbError);
  EXPECT_EQ(r.db_error_code, "42601");
  EXPECT_EQ(r.db_error_message, "syntax error at or near \"SELEC\"");
  EXPECT_EQ(r.request_bytes, batch.size());
  // The next batch is answered normally.
  s.send(Msg('Q', "SELECT 1;\0"s));
  s.answer(kSelectAnswer);
  ASSERT_EQ(s.records.size(), 2u);
  EXPECT_EQ(s.records[1].method, "Query");
  EXPECT_EQ(s.records[1].status, kDbOk);
}

// An Execute that fails after rows were sent (division by zero on row 2).
TEST(PgsqlTracker, FailedExecute) {
  Session s;
  s.start();
  s.send(Msg('P', "q\0SELECT 1/x FROM t\0\x00\x00"s) + Msg('S', ""));
  s.answer(Msg('1', "") + Msg('Z', "I"));
  s.send(Msg('B', "\0q\0\x00\x00\x00\x00\x00\x00"s) + Msg('E', "\0\x00\x00\x00\x00"s) +
         Msg('S', ""));
  s.answer(Msg('2', "") +
           Msg('D',
               "\x00\x01\x00\x00\x00\x01"
               "1"s) +
           Msg('E', "SERROR\0C22012\0Mdivision by zero\0\0"s) + Msg('Z', "E"));
  ASSERT_EQ(s.records.size(), 1u);
  EXPECT_EQ(s.records[0].method, "Execute");
  EXPECT_EQ(s.records[0].target, "SELECT 1/x FROM t");
  EXPECT_EQ(s.records[0].status, kDbError);
  EXPECT_EQ(s.records[0].db_error_code, "22012");
  EXPECT_EQ(s.records[0].rows, 1) << "the rows sent before the error";
}

// A row limit: PortalSuspended, then the rest.
TEST(PgsqlTracker, PortalSuspended) {
  Session s;
  s.start();
  std::string row = Msg('D',
                        "\x00\x01\x00\x00\x00\x01"
                        "1"s);  // DataRow, 1 column "1"
  s.send(Msg('P', "\0SELECT 1\0\x00\x00"s) + Msg('B', "\0\0\x00\x00\x00\x00\x00\x00"s) +
         Msg('E', "\0\x00\x00\x00\x02"s));  // Execute, max 2 rows
  s.answer(Msg('1', "") + Msg('2', "") + row + row + Msg('s', ""));
  s.send(Msg('E', "\0\x00\x00\x00\x02"s) + Msg('S', ""));
  s.answer(row + Msg('C', "SELECT 1\0"s) + Msg('Z', "I"));
  ASSERT_EQ(s.records.size(), 2u);
  EXPECT_EQ(s.records[0].rows, 2);
  EXPECT_EQ(s.records[0].target, "SELECT 1");
  EXPECT_EQ(s.records[1].rows, 1);
  EXPECT_EQ(s.records[1].target, "SELECT 1");
}

// COPY FROM STDIN inside a Query: the client's CopyData count in its request.
TEST(PgsqlTracker, CopyInQuery) {
  Session s;
  s.start();
  std::string q = Msg('Q', "COPY t FROM STDIN\0"s);
  s.send(q);
  std::string copy_in = Msg('G', "\0\x00\x01\x00\x00"s);  // CopyInResponse: text, 1 column
  s.answer(copy_in);
  std::string data = Msg('d', "1\n") + Msg('d', "2\n") + Msg('c', "");  // CopyData x2, CopyDone
  s.send(data);
  s.answer(Msg('C', "COPY 2\0"s) + Msg('Z', "I"));
  ASSERT_EQ(s.records.size(), 1u);
  EXPECT_EQ(s.records[0].rows, 2);
  EXPECT_EQ(s.records[0].request_bytes, q.size() + data.size());
  EXPECT_EQ(s.tracker.stats().copy_data, 2u);
}

// Startup that fails: a record, method Startup, the database as target.
TEST(PgsqlTracker, FailedStartup) {
  Session s;
  s.send(kStartup);
  s.answer(Msg('E', "SFATAL\0C3D000\0Mdatabase \"shop\" does not exist\0\0"s));
  ASSERT_EQ(s.records.size(), 1u);
  EXPECT_EQ(s.records[0].method, "Startup");
  EXPECT_EQ(s.records[0].target, "shop");
  EXPECT_EQ(s.records[0].db_error_code, "3D000");
}

TEST(PgsqlTracker, ClosedWithoutAnswer) {
  Session s;
  s.start();
  s.send(kQuerySelect);
  s.close();
  ASSERT_EQ(s.records.size(), 1u);
  EXPECT_EQ(s.records[0].error, "no response");
  EXPECT_EQ(s.records[0].status, 0);
  EXPECT_EQ(s.tracker.stats().errors, 1u);
}

// Bytes of the answer lost: the framing survives a gap inside a DataRow
// and the record says it was cut.
TEST(PgsqlTracker, GapInsideAnAnswer) {
  Session s;
  s.start();
  s.send(kQuerySelect);
  std::string answer = kSelectAnswer;
  size_t d = answer.find('D');
  s.answer(answer.substr(0, d + 7));  // up to 2 bytes into the DataRow's payload
  s.tracker.on_gap(s.info, Dir::kRx, s.pos[1], 4);
  s.pos[1] += 4;
  s.answer(answer.substr(d + 11));
  ASSERT_EQ(s.records.size(), 1u);
  EXPECT_EQ(s.records[0].error, "response cut short by lost bytes");
  EXPECT_EQ(s.records[0].rows, 1);
  EXPECT_EQ(s.tracker.stats().gaps, 1u);
}

// A gap over message headers of the answer: the parser finds the next
// message, the lost answer's record says so and the next one is whole.
TEST(PgsqlTracker, GapOverHeadersResynchronises) {
  Session s;
  s.start();
  s.send(kQuerySelect);
  s.tracker.on_gap(s.info, Dir::kRx, s.pos[1], kSelectAnswer.size());
  s.pos[1] += kSelectAnswer.size();
  s.send(kQuerySelect);
  s.answer(kSelectAnswer);
  ASSERT_EQ(s.records.size(), 2u);
  EXPECT_EQ(s.records[0].error, "response lost");
  EXPECT_EQ(s.records[0].status, 0);
  EXPECT_EQ(s.records[1].error, "");
  EXPECT_EQ(s.records[1].rows, 1);
}

// Texts over Limits::max_text_kept are cut, statements over
// Limits::max_statements not remembered: both counted.
TEST(PgsqlTracker, BoundsAreCounted) {
  Limits limits;
  limits.max_text_kept = 8;
  limits.max_statements = 1;
  std::vector<Record> records;
  Tracker tracker([&](Record&& r) { records.push_back(std::move(r)); }, limits);
  streams::ConnInfo info = Info();
  uint64_t pos[2] = {0, 0};
  auto feed = [&](Dir d, const std::string& bytes) {
    tracker.on_data(info, d, pos[capture::dir_index(d)], bytes, 1);
    pos[capture::dir_index(d)] += bytes.size();
  };
  feed(Dir::kTx, kStartup);
  feed(Dir::kRx, kStartupAnswer);
  feed(Dir::kTx, Msg('Q', "SELECT 123456789\0"s));  // Query, 16 bytes of text
  feed(Dir::kRx, Msg('C', "SELECT 1\0"s) + Msg('Z', "I"));
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].target, "SELECT 1");
  EXPECT_EQ(tracker.stats().cut, 1u);
  // Two named statements, room for one: the second is not remembered.
  feed(Dir::kTx, Msg('P', "a\0SELECT 1\0\x00\x00"s) +              // Parse "a"
                     Msg('P', "b\0SELECT 2\0\x00\x00"s) +          // Parse "b"
                     Msg('B', "\0b\0\x00\x00\x00\x00\x00\x00"s) +  // Bind "" to "b"
                     Msg('E', "\0\x00\x00\x00\x00"s) +             // Execute ""
                     Msg('S', ""));                                // Sync
  feed(Dir::kRx,
       Msg('1', "") + Msg('1', "") + Msg('2', "") + Msg('C', "SELECT 1\0"s) + Msg('Z', "I"));
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1].method, "Execute");
  EXPECT_EQ(records[1].target, "") << "statement b was not remembered";
  EXPECT_EQ(tracker.stats().overflows, 1u);
}

// Through the Router, the startup split into 3-byte calls: the connection
// goes to PostgreSQL, not HTTP/1 or HTTP/2.
TEST(PgsqlTracker, RoutedFromSplitStartup) {
  std::vector<Record> records;
  Tracker pg([&](Record&& r) { records.push_back(std::move(r)); });
  http2::Tracker h2([](Record&&) { ADD_FAILURE() << "HTTP/2 record"; });
  struct Fallback : streams::Sink {
    void on_data(const streams::ConnInfo&, Dir, uint64_t, std::string_view, uint64_t) override {
      ADD_FAILURE() << "went to the fallback";
    }
    void on_gap(const streams::ConnInfo&, Dir, uint64_t, uint64_t) override {}
    void on_close(const streams::ConnInfo&, streams::CloseReason) override {}
  } fallback;
  Router router({{http2::ClassifyOpening, &h2}, {ClassifyOpening, &pg}}, &fallback);
  streams::ConnInfo info = Info();
  for (size_t i = 0; i < kStartup.size(); i += 3) {
    router.on_data(info, Dir::kTx, i, kStartup.substr(i, 3), 10 + i);
  }
  router.on_data(info, Dir::kRx, 0, kStartupAnswer, 200);
  router.on_data(info, Dir::kTx, kStartup.size(), kQuerySelect, 300);
  router.on_data(info, Dir::kRx, kStartupAnswer.size(), kSelectAnswer, 400);
  router.on_close(info, streams::CloseReason::kClosed);
  EXPECT_EQ(router.connections_routed(1), 1u);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].target, "SELECT 1;");
}

}  // namespace
}  // namespace tlstap::protocols::pgsql
