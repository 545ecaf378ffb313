// tlstap --records against Debian's MariaDB over TLS: mariadbd started by
// the test in its temp dir (mariadb-install-db, then the server on
// 127.0.0.1 with a test certificate, no system service), and two clients
// on OpenSSL: the mariadb command-line client (text queries, USE, an
// error) and tests/progs/mysql_stmt_client on libmariadb (binary prepared
// statements). Each command is one record on each side, the client's and
// the server's, checked field by field.
#include <gtest/gtest.h>
#include <signal.h>

#include <sstream>

#include "tests/bpf/nginx_server.h"
#include "tests/bpf/otlp_receiver.h"
#include "tests/bpf/proc_inspect.h"
#include "tests/bpf/subprocess.h"
#include "tests/bpf/test_env.h"
#include "tests/bpf/tlstap_session.h"

namespace tlstap::bpf_test {
namespace {

constexpr char kMariadbd[] = "/usr/sbin/mariadbd";
constexpr char kInstallDb[] = "/usr/bin/mariadb-install-db";
constexpr char kMariadb[] = "/usr/bin/mariadb";
constexpr char kStmtClient[] = TLSTAP_MYSQL_STMT_CLIENT;
constexpr char kHost[] = "127.0.0.1";

// The fields a test expects of one command's records.
struct Expected {
  std::string method, target;
  int status = 1;  // 1 ok, 2 error, 0 no response (COM_STMT_CLOSE, COM_QUIT)
  int64_t rows = -1;
  std::string error_code, error_message;
};

// Little-endian 3-byte packet length at the front of bytes.
size_t PacketLength(std::string_view bytes) {
  return static_cast<uint8_t>(bytes[0]) | static_cast<uint8_t>(bytes[1]) << 8 |
         static_cast<uint8_t>(bytes[2]) << 16;
}

// The packets of a byte stream (4-byte headers, payloads), each as
// (sequence id, payload).
std::vector<std::pair<int, std::string>> Packets(std::string_view stream) {
  std::vector<std::pair<int, std::string>> out;
  while (stream.size() >= 4) {
    size_t len = PacketLength(stream);
    if (stream.size() < 4 + len) break;
    out.emplace_back(static_cast<uint8_t>(stream[3]), std::string(stream.substr(4, len)));
    stream.remove_prefix(4 + len);
  }
  return out;
}

class MysqlRecordsTest : public BpfTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(BpfTest::SetUp());
    for (const char* tool : {kMariadbd, kInstallDb, kMariadb}) {
      ASSERT_EQ(access(tool, X_OK), 0)
          << tool << " is missing: run scripts/install-deps.sh (mariadb-server, mariadb-client)";
    }
    ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir_, &cert_));
    const std::string data = dir_ / "data";
    RunResult install =
        RunToEnd(Command({kInstallDb, "--no-defaults", "--datadir=" + data, "--user=root",
                          "--auth-root-authentication-method=normal", "--skip-test-db"}),
                 120s);
    ASSERT_EQ(install.status, 0) << install.out << install.err;
    port_ = FreeTcpPort(kHost);
    ASSERT_GT(port_, 0);
    server_addr_ = HostPort(kHost, port_);
    socket_ = dir_ / "mysqld.sock";
    SpawnOptions options = Command(
        {kMariadbd, "--no-defaults", "--datadir=" + data, "--user=root",
         "--port=" + std::to_string(port_), "--bind-address=127.0.0.1", "--socket=" + socket_,
         "--pid-file=" + (dir_ / "mysqld.pid"), "--log-error=" + (dir_ / "error.log"),
         "--ssl-cert=" + cert_.cert, "--ssl-key=" + cert_.key, "--skip-log-bin",
         "--innodb-buffer-pool-size=32M", "--max-allowed-packet=64M"});
    options.stdin_pipe = false;
    server_ = std::make_unique<Subprocess>(options);
    ASSERT_TRUE(server_->ok()) << server_->error();
    ASSERT_TRUE(WaitForListen(port_, 60s)) << server_->Stderr() << ReadFile(dir_ / "error.log");
    // The test's table, over the Unix socket (no TLS, not traced).
    RunResult setup = RunToEnd(
        Command({kMariadb, "--no-defaults", "--socket=" + socket_, "-u", "root", "-e",
                 "CREATE DATABASE tlstap; CREATE TABLE tlstap.items (id INT AUTO_INCREMENT "
                 "PRIMARY KEY, name VARCHAR(32)); INSERT INTO tlstap.items (name) VALUES "
                 "('a'), ('b'), ('c')"}),
        30s);
    ASSERT_EQ(setup.status, 0) << setup.out << setup.err;
  }

  void TearDown() override {
    if (server_ && server_->running()) {
      server_->Signal(SIGTERM);
      EXPECT_TRUE(server_->Wait(60s).has_value()) << "mariadbd did not stop on SIGTERM";
    }
  }

  // Runs argv (held until tlstap is up, then given input on stdin) under
  // `tlstap --json tlstap_args --pid CLIENT --pid MARIADBD`; returns its
  // exit status.
  int RunClient(const std::vector<std::string>& argv, const std::vector<std::string>& tlstap_args,
                const std::string& input = "") {
    Subprocess client(HeldCommand(argv));
    EXPECT_TRUE(client.ok()) << client.error();
    client_pid_ = client.pid();
    std::vector<std::string> args = tlstap_args;
    for (pid_t pid : {client.pid(), server_->pid()}) {
      args.push_back("--pid");
      args.push_back(std::to_string(pid));
    }
    TlstapSession tap;
    tap.Start(args);
    start_ns_ = NowNs();
    EXPECT_TRUE(client.Write("go\n" + input, 30s));
    client.CloseStdin();
    std::optional<int> status = client.Wait(60s);
    end_ns_ = NowNs();
    client_out_ = client.Stdout();
    client_err_ = client.Stderr();
    tap.Stop(&capture_);
    return status.value_or(-1);
  }

  std::vector<nlohmann::json> RecordsOf(pid_t pid) const {
    std::vector<nlohmann::json> out;
    for (const nlohmann::json& r : capture_.records) {
      if (r.value("pid", 0) == pid) out.push_back(r);
    }
    return out;
  }

  // Both sides' records of the same commands, in order, field by field.
  void ExpectRecords(const std::string& client_comm, const std::string& client_addr,
                     const std::vector<Expected>& expected) {
    std::vector<nlohmann::json> client = RecordsOf(client_pid_), server = RecordsOf(server_->pid());
    ASSERT_EQ(client.size(), expected.size()) << capture_.DescribeRecords();
    ASSERT_EQ(server.size(), expected.size()) << capture_.DescribeRecords();
    ASSERT_EQ(capture_.records.size(), 2 * expected.size()) << capture_.DescribeRecords();
    struct Side {
      const std::vector<nlohmann::json>& records;
      pid_t pid;
      std::string comm, side, laddr, raddr;
    };
    for (const Side& s :
         {Side{client, client_pid_, client_comm, "client", client_addr, server_addr_},
          Side{server, server_->pid(), "mariadbd", "server", server_addr_, client_addr}}) {
      for (size_t i = 0; i < expected.size(); ++i) {
        const nlohmann::json& r = s.records[i];
        const Expected& e = expected[i];
        SCOPED_TRACE(s.side + " record " + std::to_string(i) + " " + r.dump());
        EXPECT_EQ(r.value("type", ""), "record");
        EXPECT_EQ(r.value("proto", ""), "mysql");
        EXPECT_EQ(r.value("pid", 0), s.pid);
        EXPECT_EQ(r.value("comm", ""), s.comm);
        EXPECT_EQ(r.value("lib", ""), "openssl");
        EXPECT_EQ(r.value("side", ""), s.side);
        EXPECT_GE(r.value("fd", -1), 0);
        EXPECT_EQ(r.at("fd"), s.records[0].at("fd")) << "one connection";
        EXPECT_EQ(r.at("conn_id"), s.records[0].at("conn_id"));
        EXPECT_EQ(r.value("laddr", ""), s.laddr);
        EXPECT_EQ(r.value("raddr", ""), s.raddr);
        EXPECT_EQ(r.value("method", ""), e.method);
        EXPECT_EQ(r.value("target", ""), e.target);
        EXPECT_EQ(r.value("status", -1), e.status);
        if (e.rows >= 0) {
          EXPECT_EQ(r.value("rows", int64_t{-2}), e.rows);
        } else {
          EXPECT_FALSE(r.contains("rows")) << "rows unknown";
        }
        EXPECT_EQ(r.value("db_error_code", ""), e.error_code);
        EXPECT_EQ(r.value("db_error_message", ""), e.error_message);
        const uint64_t ts = r.value("ts_ns", uint64_t{0});
        EXPECT_GE(ts, start_ns_);
        EXPECT_LE(ts, end_ns_);
        const uint64_t latency = r.value("latency_ns", uint64_t{0});
        if (e.status != 0) {
          EXPECT_GT(latency, 0u);
          EXPECT_LE(ts + latency, end_ns_);
          EXPECT_GT(r.value("response_bytes", uint64_t{0}), 0u);
        } else {
          EXPECT_EQ(latency, 0u) << "no response";
          EXPECT_EQ(r.value("response_bytes", uint64_t{1}), 0u);
        }
        EXPECT_FALSE(r.contains("error"));
        // Client and server saw the same bytes.
        if (s.side == "server") {
          EXPECT_EQ(r.at("request_bytes"), client[i].at("request_bytes"));
          EXPECT_EQ(r.at("response_bytes"), client[i].at("response_bytes"));
        }
      }
    }
  }

  // With --events: each side's records' sizes add up to every byte its
  // calls carried after the login (the HandshakeResponse41 and the
  // server's OK to it), and the events' fd is the records'.
  void ExpectSizesAddUp() {
    for (pid_t pid : {client_pid_, server_->pid()}) {
      SCOPED_TRACE("pid " + std::to_string(pid));
      const bool is_client = pid == client_pid_;
      const std::string requests = capture_.Stream(pid, is_client ? "tx" : "rx");
      const std::string responses = capture_.Stream(pid, is_client ? "rx" : "tx");
      ASSERT_GE(requests.size(), 4u);
      ASSERT_GE(responses.size(), 5u);
      EXPECT_EQ(requests[3], 2) << "the HandshakeResponse41, sequence id 2";
      EXPECT_EQ(responses[3], 3) << "the server's reply, sequence id 3";
      EXPECT_EQ(responses[4], 0) << "an OK: logged in";
      uint64_t request_bytes = 0, response_bytes = 0;
      for (const nlohmann::json& r : RecordsOf(pid)) {
        request_bytes += r.value("request_bytes", uint64_t{0});
        response_bytes += r.value("response_bytes", uint64_t{0});
        EXPECT_EQ(r.value("fd", -1), capture_.OfPid(pid).front()->fd);
      }
      EXPECT_EQ(request_bytes, requests.size() - 4 - PacketLength(requests));
      EXPECT_EQ(response_bytes, responses.size() - 4 - PacketLength(responses));
    }
    EXPECT_EQ(capture_.Stream(client_pid_, "tx"), capture_.Stream(server_->pid(), "rx"));
    EXPECT_EQ(capture_.Stream(client_pid_, "rx"), capture_.Stream(server_->pid(), "tx"));
  }

  void ExpectRecordStats(uint64_t records, uint64_t overflows = 0) const {
    const nlohmann::json* stats = capture_.final_stats();
    ASSERT_TRUE(stats) << "no final stats line";
    ASSERT_TRUE(stats->contains("records")) << stats->dump();
    const nlohmann::json& r = stats->at("records");
    EXPECT_EQ(r.value("mysql", uint64_t{0}), records) << stats->dump();
    EXPECT_EQ(r.value("http1", uint64_t{1}), 0u) << stats->dump();
    EXPECT_EQ(r.value("errors", uint64_t{1}), 0u) << stats->dump();
    EXPECT_EQ(r.value("parse_errors", uint64_t{1}), 0u) << stats->dump();
    EXPECT_EQ(r.value("gaps", uint64_t{1}), 0u) << stats->dump();
    EXPECT_EQ(r.value("overflows", uint64_t{99}), overflows) << stats->dump();
    ExpectNoLoss(capture_);
  }

  TempDir dir_;
  Certificate cert_;
  int port_ = 0;
  std::string server_addr_, socket_;
  std::unique_ptr<Subprocess> server_;
  pid_t client_pid_ = 0;
  uint64_t start_ns_ = 0, end_ns_ = 0;
  std::string client_out_, client_err_;
  Capture capture_;
};

// The mariadb client with --ssl: a query that tells the client's own
// address, USE (SELECT DATABASE() and COM_INIT_DB), a SELECT of three rows,
// an INSERT, a table that does not exist (1146), and COM_QUIT.
TEST_F(MysqlRecordsTest, MariadbClientQueriesAndAnError) {
  // The client's port, as the server sees it (its host may be a name).
  const std::string who =
      "SELECT SUBSTRING_INDEX(host, ':', -1) FROM information_schema.PROCESSLIST WHERE id = "
      "CONNECTION_ID()";
  const std::string select = "SELECT id, name FROM items ORDER BY id";
  const std::string insert = "INSERT INTO items (name) VALUES ('d')";
  const std::string missing = "SELECT * FROM nope";
  const int status =
      RunClient({kMariadb, "--no-defaults", "-h", kHost, "-P", std::to_string(port_), "-u", "root",
                 "--ssl", "--ssl-verify-server-cert=0", "-N", "-B", "-e",
                 who + "; USE tlstap; " + select + "; " + insert + "; " + missing},
                {"--records", "--events"});
  ASSERT_NO_FATAL_FAILURE();
  ASSERT_EQ(status, 1) << "the missing table fails the client: " << client_err_;
  EXPECT_NE(client_err_.find("ERROR 1146 (42S02)"), std::string::npos) << client_err_;
  std::istringstream out(client_out_);
  int client_port = 0;
  ASSERT_TRUE(out >> client_port) << client_out_;
  ASSERT_GT(client_port, 0) << client_out_;
  const std::string client_addr = HostPort(kHost, client_port);
  ASSERT_NO_FATAL_FAILURE(
      ExpectRecords("mariadb", client_addr,
                    {{"COM_QUERY", who, 1, 1, "", ""},
                     {"COM_QUERY", "SELECT DATABASE()", 1, 1, "", ""},
                     {"COM_INIT_DB", "tlstap", 1, 0, "", ""},
                     {"COM_QUERY", select, 1, 3, "", ""},
                     {"COM_QUERY", insert, 1, 1, "", ""},
                     // The SQL state (#42S02) is not part of db_error_message.
                     {"COM_QUERY", missing, 2, -1, "1146", "Table 'tlstap.nope' doesn't exist"},
                     {"COM_QUIT", "", 0, -1, "", ""}}));
  // Sizes known from the protocol: a command byte and the text; the ERR
  // packet's marker, number, '#' and SQL state, and message.
  for (const nlohmann::json& r : RecordsOf(client_pid_)) {
    if (r.value("method", "") != "COM_QUERY") continue;
    EXPECT_EQ(r.value("request_bytes", uint64_t{0}), 4 + 1 + r.value("target", "").size());
    if (r.value("status", 0) == 2) {
      EXPECT_EQ(r.value("response_bytes", uint64_t{0}),
                4 + 1 + 2 + 6 + std::string("Table 'tlstap.nope' doesn't exist").size());
    }
  }
  ExpectSizesAddUp();
  ExpectRecordStats(14);
}

// Binary prepared statements through libmariadb: COM_STMT_PREPARE (0x16)
// and COM_STMT_EXECUTE (0x17) on the wire, the execute records showing the
// prepared text, rows fetched and affected, COM_STMT_CLOSE (no response).
TEST_F(MysqlRecordsTest, PreparedStatementsFromLibmariadb) {
  ASSERT_EQ(access(kStmtClient, X_OK), 0) << kStmtClient << " was not built";
  const int status = RunClient({kStmtClient, kHost, std::to_string(port_), "root", "tlstap"},
                               {"--records", "--events"});
  ASSERT_NO_FATAL_FAILURE();
  ASSERT_EQ(status, 0) << client_err_;
  int port = 0;
  ASSERT_EQ(sscanf(client_out_.c_str(), "port %d\nselect rows 2\ninsert affected 1\n", &port), 1)
      << client_out_;
  ASSERT_NE(client_out_.find("select rows 2\ninsert affected 1\n"), std::string::npos)
      << client_out_;
  // The commands the client's calls carried, by their first byte.
  std::vector<int> commands;
  for (const auto& [seq, payload] : Packets(capture_.Stream(client_pid_, "tx"))) {
    if (seq == 0 && !payload.empty()) commands.push_back(static_cast<uint8_t>(payload[0]));
  }
  EXPECT_EQ(commands, (std::vector<int>{0x16, 0x17, 0x16, 0x17, 0x19, 0x19, 0x01}));
  const std::string select = "SELECT id, name FROM items WHERE id <= ? ORDER BY id";
  const std::string insert = "INSERT INTO items (name) VALUES (?)";
  ASSERT_NO_FATAL_FAILURE(ExpectRecords("mysql_stmt_clie", HostPort(kHost, port),
                                        {{"COM_STMT_PREPARE", select, 1, -1, "", ""},
                                         {"COM_STMT_EXECUTE", select, 1, 2, "", ""},
                                         {"COM_STMT_PREPARE", insert, 1, -1, "", ""},
                                         {"COM_STMT_EXECUTE", insert, 1, 1, "", ""},
                                         {"COM_STMT_CLOSE", select, 0, -1, "", ""},
                                         {"COM_STMT_CLOSE", insert, 0, -1, "", ""},
                                         {"COM_QUIT", "", 0, -1, "", ""}}));
  for (const nlohmann::json& r : RecordsOf(client_pid_)) {
    if (r.value("method", "") == "COM_STMT_PREPARE") {
      EXPECT_EQ(r.value("request_bytes", uint64_t{0}), 4 + 1 + r.value("target", "").size());
    }
    if (r.value("method", "") == "COM_STMT_CLOSE") {
      EXPECT_EQ(r.value("request_bytes", uint64_t{0}), 4u + 1 + 4) << "command, statement id";
    }
  }
  ExpectSizesAddUp();
  ExpectRecordStats(14);
}

// A statement of 17 MiB (over 0xffffff: two packets on the wire) read by
// the mariadb client from stdin, whose one row is 17 MiB too: the
// statement is kept to its first 4095 bytes (counted in overflows), the
// sizes are the whole packets', the row is counted once.
TEST_F(MysqlRecordsTest, StatementAndRowOverOnePacket) {
  const size_t size = 17 << 20;
  const std::string query =
      "SELECT LENGTH('" + std::string(size, 'x') + "'), REPEAT('z', " + std::to_string(size) + ")";
  ASSERT_GT(1 + query.size(), 0xffffffu);
  const int status = RunClient(
      {kMariadb, "--no-defaults", "-h", kHost, "-P", std::to_string(port_), "-u", "root", "--ssl",
       "--ssl-verify-server-cert=0", "--max-allowed-packet=64M", "-N", "-B", "-D", "tlstap"},
      {"--records"}, query + ";\n");
  ASSERT_NO_FATAL_FAILURE();
  ASSERT_EQ(status, 0) << client_err_;
  const std::string expected_out = std::to_string(size) + "\t" + std::string(size, 'z') + "\n";
  ASSERT_TRUE(SameBytes(client_out_, expected_out));
  // The client's port is not printed here: the server's record says it,
  // and the client's own records must agree (ExpectRecords).
  std::vector<nlohmann::json> client = RecordsOf(client_pid_), server = RecordsOf(server_->pid());
  ASSERT_EQ(client.size(), 2u) << capture_.DescribeRecords();
  ASSERT_EQ(server.size(), 2u) << capture_.DescribeRecords();
  const std::string client_addr = server[0].value("raddr", "");
  ASSERT_NO_FATAL_FAILURE(ExpectRecords(
      "mariadb", client_addr,
      {{"COM_QUERY", query.substr(0, 4095), 1, 1, "", ""}, {"COM_QUIT", "", 0, -1, "", ""}}));
  // The command byte and the statement, in a packet of 0xffffff bytes and
  // one of the rest: two headers. The row alone is over 17 MiB.
  EXPECT_EQ(client[0].value("request_bytes", uint64_t{0}), 1 + query.size() + 2 * 4);
  EXPECT_GT(client[0].value("response_bytes", uint64_t{0}), size + 2 * 4);
  ExpectRecordStats(4, 2);
}

// Several results in one response: the mariadb client (--ssl, which
// asks for CLIENT_MULTI_STATEMENTS) sends a multi-statement as one
// COM_QUERY when its delimiter is not ';', and a CALL of a procedure that
// runs two SELECTs returns two result sets and the CALL's own OK. rows is
// the sum over all of a command's results: returned and affected alike.
TEST_F(MysqlRecordsTest, MultiStatementsAndCallSumRowsOverTheirResults) {
  // The procedure, over the Unix socket (not traced).
  RunResult create = RunToEnd(
      Command({kMariadb, "--no-defaults", "--socket=" + socket_, "-u", "root", "-D", "tlstap", "-e",
               "DELIMITER //\nCREATE PROCEDURE two() BEGIN SELECT 'x' AS a; "
               "SELECT id FROM items ORDER BY id; END //"}),
      30s);
  ASSERT_EQ(create.status, 0) << create.out << create.err;
  const std::string first_one = "SELECT 'x' AS a; SELECT id FROM items ORDER BY id";
  const std::string first_many = "SELECT id FROM items ORDER BY id; SELECT 1";
  const std::string update = "UPDATE items SET name = 'z' WHERE id < 3; SELECT 1";
  const std::string call = "CALL two()";
  const int status =
      RunClient({kMariadb, "--no-defaults", "-h", kHost, "-P", std::to_string(port_), "-u", "root",
                 "--ssl", "--ssl-verify-server-cert=0", "-N", "-B", "-D", "tlstap"},
                {"--records", "--events"},
                "DELIMITER //\n" + first_one + " //\n" + first_many + " //\n" + update + " //\n" +
                    call + " //\n");
  ASSERT_NO_FATAL_FAILURE();
  ASSERT_EQ(status, 0) << client_err_;
  EXPECT_EQ(client_out_, "x\n1\n2\n3\n1\n2\n3\n1\n1\nx\n1\n2\n3\n");
  const std::string client_addr = RecordsOf(server_->pid()).empty()
                                      ? std::string()
                                      : RecordsOf(server_->pid())[0].value("raddr", "");
  ASSERT_NO_FATAL_FAILURE(ExpectRecords("mariadb", client_addr,
                                        {{"COM_QUERY", first_one, 1, 1 + 3, "", ""},
                                         {"COM_QUERY", first_many, 1, 3 + 1, "", ""},
                                         // 2 rows changed, 1 returned
                                         {"COM_QUERY", update, 1, 2 + 1, "", ""},
                                         // 1 + 3 returned; the CALL's own OK: 0 affected
                                         {"COM_QUERY", call, 1, 1 + 3, "", ""},
                                         {"COM_QUIT", "", 0, -1, "", ""}}));
  ExpectSizesAddUp();
  ExpectRecordStats(10);
}

// --otlp: the same commands as database spans at an OTLP/HTTP receiver
// (tests/bpf/otlp_receiver.h): a CLIENT span in the mariadb client's
// resource and a SERVER span in mariadbd's for each command, a query's
// rows, and the missing table an error with MariaDB's code and message.
TEST_F(MysqlRecordsTest, OtlpDatabaseSpans) {
  const int otlp_port = FreeTcpPort(kHost);
  ASSERT_GT(otlp_port, 0);
  OtlpReceiver receiver(otlp_port);
  ASSERT_TRUE(receiver.ok()) << "civetweb could not listen on 127.0.0.1:" << otlp_port;
  const std::string select = "SELECT id FROM items ORDER BY id";
  const std::string missing = "SELECT * FROM nope";
  const int status = RunClient(
      {kMariadb, "--no-defaults", "-h", kHost, "-P", std::to_string(port_), "-u", "root", "--ssl",
       "--ssl-verify-server-cert=0", "-N", "-B", "-D", "tlstap", "-e", select + "; " + missing},
      {"--otlp", "http://127.0.0.1:" + std::to_string(otlp_port)});
  ASSERT_NO_FATAL_FAILURE();
  ASSERT_EQ(status, 1) << "the missing table fails the client: " << client_err_;
  const std::vector<Post> posts = receiver.Posts();
  const std::vector<ReceivedSpan> spans = SpansOf(posts);
  const nlohmann::json* stats = capture_.final_stats();
  ASSERT_TRUE(stats);
  const uint64_t records = stats->value("/records/mysql"_json_pointer, uint64_t{0});
  ASSERT_GE(records, 4u) << stats->dump();
  EXPECT_EQ(spans.size(), records) << Describe(posts);
  EXPECT_EQ(stats->value("/otlp/sent"_json_pointer, uint64_t{0}), records) << stats->dump();
  int found_select = 0, found_missing = 0;
  for (const ReceivedSpan& s : spans) {
    SCOPED_TRACE(s.span.dump());
    const bool client = s.span.value("kind", 0) == 3;
    EXPECT_TRUE(client || s.span.value("kind", 0) == 2);
    EXPECT_EQ(IntAttr(s.resource, "process.pid"),
              std::to_string(client ? client_pid_ : server_->pid()));
    EXPECT_EQ(StrAttr(s.resource, "service.name"), client ? "mariadb" : "mariadbd");
    EXPECT_TRUE(LowerHex(s.span.value("traceId", ""), 32));
    EXPECT_TRUE(LowerHex(s.span.value("spanId", ""), 16));
    EXPECT_EQ(StrAttr(s.attributes, "db.system"), "mysql");
    EXPECT_EQ(s.span.value("name", ""), StrAttr(s.attributes, "db.operation.name"));
    EXPECT_EQ(StrAttr(s.attributes, "server.address"), kHost);
    EXPECT_EQ(IntAttr(s.attributes, "server.port"), std::to_string(port_));
    EXPECT_EQ(s.attributes.contains("client.address"), !client);
    const uint64_t start = std::stoull(s.span.value("startTimeUnixNano", "0"));
    const uint64_t end = std::stoull(s.span.value("endTimeUnixNano", "0"));
    EXPECT_GE(start, start_ns_);
    EXPECT_GE(end, start);
    EXPECT_LE(end, end_ns_);
    const std::string text = StrAttr(s.attributes, "db.query.text");
    if (text == select) {
      ++found_select;
      EXPECT_EQ(s.span.value("name", ""), "COM_QUERY");
      EXPECT_EQ(IntAttr(s.attributes, "db.response.returned_rows"), "3");
      EXPECT_FALSE(s.span.contains("status"));
      EXPECT_FALSE(s.attributes.contains("error.type"));
    } else if (text == missing) {
      ++found_missing;
      EXPECT_EQ(s.span.value("name", ""), "COM_QUERY");
      EXPECT_EQ(StrAttr(s.attributes, "db.response.status_code"), "1146");
      EXPECT_EQ(StrAttr(s.attributes, "error.type"), "1146");
      EXPECT_EQ(
          s.span["status"],
          nlohmann::json::parse(R"({"message":"Table 'tlstap.nope' doesn't exist","code":2})"));
    }
  }
  EXPECT_EQ(found_select, 2) << Describe(posts);
  EXPECT_EQ(found_missing, 2) << Describe(posts);
}

}  // namespace
}  // namespace tlstap::bpf_test
