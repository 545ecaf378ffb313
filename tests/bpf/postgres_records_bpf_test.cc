// tlstap --records against Debian's PostgreSQL 15 over TLS: a cluster made
// by initdb in the test's directory (ssl=on with the test certificate,
// 127.0.0.1 on a free port, its unix socket in the directory, no system
// service), run as the postgres user; psql (simple queries, COPY, an
// error) and tests/progs/pg_client (libpq's extended protocol: PQprepare,
// PQexecPrepared, PQexecParams) connect with sslmode=require, also as the
// postgres user, so `tlstap --uid postgres` sees the client and the
// backend that served it (a child of the postmaster, forked for the
// connection) and nothing else. Each command is one record on each side,
// field by field.
#include <gtest/gtest.h>
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/bpf/nginx_server.h"
#include "tests/bpf/proc_inspect.h"
#include "tests/bpf/subprocess.h"
#include "tests/bpf/test_env.h"
#include "tests/bpf/tlstap_session.h"

namespace tlstap::bpf_test {
namespace {

constexpr char kPgBin[] = "/usr/lib/postgresql/15/bin";
constexpr char kHost[] = "127.0.0.1";
constexpr char kPassword[] = "tlstap-test-password";

// One command as the test expects its record.
struct Expected {
  std::string method, target;
  int status = 1;  // 1 ok, 2 the server's error
  int64_t rows = -1;
  std::string code, message;  // the error's SQLSTATE and message
};

Expected Ok(std::string method, std::string target, int64_t rows) {
  Expected e;
  e.method = std::move(method);
  e.target = std::move(target);
  e.rows = rows;
  return e;
}

Expected Failed(std::string method, std::string target, std::string code, std::string message) {
  Expected e = Ok(std::move(method), std::move(target), -1);
  e.status = 2;
  e.code = std::move(code);
  e.message = std::move(message);
  return e;
}

class PostgresRecordsTest : public BpfTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(BpfTest::SetUp());
    for (const char* tool : {"initdb", "postgres", "psql"}) {
      const std::string path = std::string(kPgBin) + "/" + tool;
      ASSERT_EQ(access(path.c_str(), X_OK), 0)
          << path << " is missing: run scripts/install-deps.sh (Debian's postgresql)";
    }
    ASSERT_EQ(access(TLSTAP_PG_CLIENT, X_OK), 0) << TLSTAP_PG_CLIENT << " was not built";
    const passwd* pw = getpwnam("postgres");
    ASSERT_TRUE(pw) << "no postgres user: run scripts/install-deps.sh (Debian's postgresql)";
    uid_ = pw->pw_uid;
    gid_ = pw->pw_gid;
    // initdb and postgres refuse to run as root: the directory and the
    // certificate become the postgres user's (the key 0600, as it demands).
    ASSERT_EQ(chown(dir_.path().c_str(), uid_, gid_), 0);
    ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir_, &cert_));
    for (const std::string& f : {cert_.cert, cert_.key}) {
      ASSERT_EQ(chown(f.c_str(), uid_, gid_), 0) << f;
    }
    ASSERT_EQ(chmod(cert_.key.c_str(), 0600), 0);
    // Connections over TCP authenticate with SCRAM-SHA-256 (the password
    // exchange is part of what tlstap sees before the first command).
    ASSERT_NO_FATAL_FAILURE(WriteFile(dir_ / "pwfile", kPassword));
    ASSERT_EQ(chown((dir_ / "pwfile").c_str(), uid_, gid_), 0);
    RunResult init =
        RunToEnd(AsPostgres({std::string(kPgBin) + "/initdb", "-D", dir_ / "data",
                             "--auth-local=trust", "--auth-host=scram-sha-256",
                             "--pwfile=" + (dir_ / "pwfile"), "-U", "postgres", "--no-sync"}),
                 120s);
    ASSERT_EQ(init.status, 0) << init.out << init.err;
    port_ = FreeTcpPort(kHost);
    ASSERT_GT(port_, 0);
    server_addr_ = HostPort(kHost, port_);
    SpawnOptions server = AsPostgres(
        {std::string(kPgBin) + "/postgres", "-D", dir_ / "data", "-p", std::to_string(port_), "-c",
         std::string("listen_addresses=") + kHost, "-c", "unix_socket_directories=" + dir_.path(),
         "-c", "ssl=on", "-c", "ssl_cert_file=" + cert_.cert, "-c", "ssl_key_file=" + cert_.key});
    server.stdin_pipe = false;
    postgres_ = std::make_unique<Subprocess>(server);
    ASSERT_TRUE(postgres_->ok()) << postgres_->error();
    ASSERT_TRUE(WaitForListen(port_, 30s)) << postgres_->Stderr();
  }

  void TearDown() override {
    if (!postgres_) return;
    postgres_->Signal(SIGINT);  // fast shutdown: the postmaster ends its children
    EXPECT_TRUE(postgres_->Wait(30s).has_value()) << "postgres did not stop";
  }

  // argv run as the postgres user, its HOME the test's directory (libpq
  // looks there for client certificates).
  SpawnOptions AsPostgres(const std::vector<std::string>& argv) const {
    std::vector<std::string> full = {"/usr/bin/setpriv", "--reuid=postgres", "--regid=postgres",
                                     "--init-groups"};
    full.insert(full.end(), argv.begin(), argv.end());
    SpawnOptions o = Command(full);
    o.env = {"HOME=" + dir_.path()};
    return o;
  }

  std::string Conninfo(const std::string& password = kPassword) const {
    return "host=" + std::string(kHost) + " port=" + std::to_string(port_) +
           " user=postgres dbname=postgres sslmode=require password=" + password;
  }

  // Runs a client to its end (stdin: input) while `tlstap --json
  // tlstap_args... --uid postgres` runs; ASSERTs its exit status. Unless
  // !reports_backend, the client's first line says which backend served it.
  void RunClient(const std::vector<std::string>& argv, const std::string& input, int status,
                 const std::vector<std::string>& tlstap_args, bool reports_backend = true) {
    std::vector<std::string> args = tlstap_args;
    args.insert(args.end(), {"--uid", "postgres"});
    TlstapSession tap;
    ASSERT_NO_FATAL_FAILURE(tap.Start(args));
    start_ns_ = NowNs();
    Subprocess client(AsPostgres(argv));
    ASSERT_TRUE(client.ok()) << client.error();
    client_pid_ = client.pid();
    if (!input.empty()) {
      ASSERT_TRUE(client.Write(input, 5s));
    }
    client.CloseStdin();
    ASSERT_EQ(client.Wait(60s), status) << client.Stdout() << client.Stderr();
    end_ns_ = NowNs();
    client_out_ = client.StdoutLines();
    if (!reports_backend) {
      ASSERT_NO_FATAL_FAILURE(tap.Stop(&capture_));
      return;
    }
    ASSERT_FALSE(client_out_.empty()) << client.Stderr();
    // "PID|PORT" (psql -A) or "PID PORT" (pg_client): the backend and the
    // client's port, as the server saw them.
    std::string first = client_out_[0];
    std::replace(first.begin(), first.end(), '|', ' ');
    std::istringstream fields(first);
    int client_port = 0;
    ASSERT_TRUE(fields >> backend_pid_ >> client_port) << "first line: " << client_out_[0];
    client_addr_ = HostPort(kHost, client_port);
    // The backend has ended with the connection; its last records are
    // already out, as the client's are.
    ASSERT_NO_FATAL_FAILURE(tap.Stop(&capture_));
  }

  std::vector<nlohmann::json> RecordsOf(pid_t pid) const {
    std::vector<nlohmann::json> out;
    for (const nlohmann::json& r : capture_.records) {
      if (r.value("pid", 0) == pid) out.push_back(r);
    }
    return out;
  }

  // Both sides' records of the same commands, field by field; returns the
  // client's records.
  void ExpectRecords(const std::string& client_comm, const std::vector<Expected>& expected) {
    std::vector<nlohmann::json> client = RecordsOf(client_pid_), server = RecordsOf(backend_pid_);
    ASSERT_EQ(client.size(), expected.size()) << capture_.DescribeRecords();
    ASSERT_EQ(server.size(), expected.size()) << capture_.DescribeRecords();
    ASSERT_EQ(capture_.records.size(), 2 * expected.size()) << capture_.DescribeRecords();
    struct Side {
      const std::vector<nlohmann::json>& records;
      pid_t pid;
      std::string comm, side, laddr, raddr;
    };
    for (const Side& s :
         {Side{client, client_pid_, client_comm, "client", client_addr_, server_addr_},
          Side{server, backend_pid_, "postgres", "server", server_addr_, client_addr_}}) {
      std::set<int> fds;
      std::set<uint64_t> conns;
      for (size_t i = 0; i < expected.size(); ++i) {
        const nlohmann::json& r = s.records[i];
        const Expected& e = expected[i];
        SCOPED_TRACE(s.side + " record " + std::to_string(i) + " " + r.dump());
        EXPECT_EQ(r.value("type", ""), "record");
        EXPECT_EQ(r.value("proto", ""), "postgres");
        EXPECT_EQ(r.value("pid", 0), s.pid);
        EXPECT_EQ(r.value("comm", ""), s.comm);
        EXPECT_EQ(r.value("lib", ""), "openssl");
        EXPECT_EQ(r.value("side", ""), s.side);
        EXPECT_GE(r.value("fd", -1), 0);
        fds.insert(r.value("fd", -1));
        conns.insert(r.value("conn_id", uint64_t{0}));
        EXPECT_EQ(r.value("laddr", ""), s.laddr);
        EXPECT_EQ(r.value("raddr", ""), s.raddr);
        EXPECT_EQ(r.value("method", ""), e.method);
        EXPECT_EQ(r.value("target", ""), e.target);
        EXPECT_EQ(r.value("status", 0), e.status);
        if (e.rows < 0) {
          EXPECT_FALSE(r.contains("rows")) << "rows unknown: absent";
        } else {
          EXPECT_EQ(r.value("rows", int64_t{-2}), e.rows);
        }
        EXPECT_EQ(r.value("db_error_code", ""), e.code);
        EXPECT_EQ(r.value("db_error_message", ""), e.message);
        // 'Q', int32 length, the text and its NUL.
        const uint64_t query_bytes = e.target.size() + 6;
        if (e.target.ends_with("FROM STDIN")) {
          // And the rows psql sent as CopyData (one message or more: 5
          // bytes of framing each) and its CopyDone (5 bytes).
          EXPECT_GE(r.value("request_bytes", uint64_t{0}),
                    query_bytes + 5 + std::string("4\n5\n").size() + 5);
        } else if (e.method == "Query") {
          EXPECT_EQ(r.value("request_bytes", uint64_t{0}), query_bytes);
        }
        EXPECT_GT(r.value("request_bytes", uint64_t{0}), 0u);
        EXPECT_GT(r.value("response_bytes", uint64_t{0}), 0u);
        const uint64_t ts = r.value("ts_ns", uint64_t{0});
        EXPECT_GE(ts, start_ns_);
        EXPECT_LE(ts, end_ns_);
        const uint64_t latency = r.value("latency_ns", uint64_t{0});
        EXPECT_GT(latency, 0u);
        EXPECT_LE(ts + latency, end_ns_);
        EXPECT_FALSE(r.contains("error"));
      }
      EXPECT_EQ(fds.size(), 1u) << s.side << ": one connection, one fd";
      EXPECT_EQ(conns.size(), 1u) << s.side;
    }
    // Both processes carried the same bytes.
    for (size_t i = 0; i < expected.size(); ++i) {
      EXPECT_EQ(client[i].value("request_bytes", uint64_t{0}),
                server[i].value("request_bytes", uint64_t{1}))
          << i;
      EXPECT_EQ(client[i].value("response_bytes", uint64_t{0}),
                server[i].value("response_bytes", uint64_t{1}))
          << i;
    }
  }

  void ExpectRecordStats(uint64_t records, uint64_t db_errors) const {
    const nlohmann::json* stats = capture_.final_stats();
    ASSERT_TRUE(stats) << "no final stats line";
    ASSERT_TRUE(stats->contains("records")) << stats->dump();
    const nlohmann::json& r = stats->at("records");
    EXPECT_EQ(r.value("postgres", uint64_t{0}), records) << stats->dump();
    EXPECT_EQ(r.value("postgres_db_errors", uint64_t{0}), db_errors) << stats->dump();
    EXPECT_EQ(r.value("postgres_unmatched", uint64_t{1}), 0u) << stats->dump();
    EXPECT_EQ(r.value("http1", uint64_t{1}), 0u) << stats->dump();
    EXPECT_EQ(r.value("errors", uint64_t{1}), 0u) << stats->dump();
    EXPECT_EQ(r.value("parse_errors", uint64_t{1}), 0u) << stats->dump();
    EXPECT_EQ(r.value("gaps", uint64_t{1}), 0u) << stats->dump();
    ExpectNoLoss(capture_);
  }

  TempDir dir_;
  Certificate cert_;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  int port_ = 0;
  std::string server_addr_, client_addr_;
  std::unique_ptr<Subprocess> postgres_;
  pid_t client_pid_ = 0, backend_pid_ = 0;
  std::vector<std::string> client_out_;
  uint64_t start_ns_ = 0, end_ns_ = 0;
  Capture capture_;
};

// psql, one simple Query per -c: rows from the tags, COPY both ways, two
// statements in one Query (one record, rows summed), and a missing table
// (42P01), after which psql exits 1.
TEST_F(PostgresRecordsTest, PsqlSimpleQueries) {
  const std::vector<Expected> expected = {
      Ok("Query", "SELECT pg_backend_pid(), inet_client_port()", 1),
      Ok("Query", "CREATE TABLE t (a int)", -1),
      Ok("Query", "INSERT INTO t VALUES (1), (2), (3)", 3),
      Ok("Query", "COPY t FROM STDIN", 2),
      Ok("Query", "SELECT a FROM t ORDER BY a", 5),
      Ok("Query", "COPY t TO STDOUT", 5),
      Ok("Query", "UPDATE t SET a = a + 10 WHERE a > 3; DELETE FROM t WHERE a = 1", 3),
      Failed("Query", "SELECT * FROM missing_table", "42P01",
             "relation \"missing_table\" does not exist"),
  };
  std::vector<std::string> argv = {std::string(kPgBin) + "/psql", Conninfo(), "-X", "-A", "-t"};
  for (const Expected& e : expected) argv.insert(argv.end(), {"-c", e.target});
  // The rows COPY FROM STDIN reads from psql's stdin.
  ASSERT_NO_FATAL_FAILURE(RunClient(argv, "4\n5\n\\.\n", 1, {"--records", "--events"}));
  ASSERT_NO_FATAL_FAILURE(ExpectRecords("psql", expected));
  // The records' fd is the one psql's data events carry.
  std::set<int> fds;
  for (const DataEvent* e : capture_.OfPid(client_pid_)) fds.insert(e->fd);
  ASSERT_EQ(fds.size(), 1u) << Describe(capture_.OfPid(client_pid_));
  EXPECT_EQ(RecordsOf(client_pid_)[0].value("fd", -2), *fds.begin());
  // The first bytes psql sent over TLS: its StartupMessage (protocol 3.0).
  const std::string sent = capture_.Stream(client_pid_, "tx");
  ASSERT_GE(sent.size(), 8u);
  EXPECT_EQ(sent.substr(4, 4), std::string("\x00\x03\x00\x00", 4));
  EXPECT_EQ(capture_.Stream(backend_pid_, "rx"), sent);
  ExpectRecordStats(2 * expected.size(), 2);
}

// libpq's extended protocol (tests/progs/pg_client.cc): a PQprepare that
// succeeds makes no record; each PQexecPrepared is an Execute carrying the
// prepared text; PQexecParams an Execute of the unnamed statement; a Parse
// with a syntax error (42601) and an Execute that breaks a primary key
// (23505) are records with the server's error.
TEST_F(PostgresRecordsTest, LibpqExtendedProtocol) {
  ASSERT_NO_FATAL_FAILURE(RunClient({TLSTAP_PG_CLIENT, Conninfo()}, "", 0, {"--records"}));
  const std::vector<std::string> report(client_out_.begin() + 1, client_out_.end());
  const std::vector<std::string> want_report = {
      "create PGRES_COMMAND_OK - -1",        "prepare PGRES_COMMAND_OK - -1",
      "insert1 PGRES_COMMAND_OK - 1",        "insert2 PGRES_COMMAND_OK - 1",
      "select PGRES_TUPLES_OK - 2",          "bad PGRES_FATAL_ERROR 42601 -1",
      "duplicate PGRES_FATAL_ERROR 23505 -1"};
  ASSERT_EQ(report, want_report);
  const std::string insert = "INSERT INTO items VALUES ($1, $2)";
  ASSERT_NO_FATAL_FAILURE(ExpectRecords(
      "pg_client", {
                       Ok("Query", "SELECT pg_backend_pid(), inet_client_port()", 1),
                       Ok("Query", "CREATE TEMP TABLE items (id int PRIMARY KEY, name text)", -1),
                       Ok("Execute", insert, 1),
                       Ok("Execute", insert, 1),
                       Ok("Execute", "SELECT name FROM items WHERE id >= $1 ORDER BY id", 2),
                       Failed("Parse", "SELEC 1", "42601", "syntax error at or near \"SELEC\""),
                       Failed("Execute", insert, "23505",
                              "duplicate key value violates unique constraint \"items_pkey\""),
                   }));
  ExpectRecordStats(14, 4);
}

// A wrong password: the startup fails (28P01), one Startup record on each
// side, its target the database; psql exits 2.
TEST_F(PostgresRecordsTest, WrongPasswordIsAFailedStartup) {
  ASSERT_NO_FATAL_FAILURE(RunClient(
      {std::string(kPgBin) + "/psql", Conninfo("wrong"), "-X", "-A", "-t", "-c", "SELECT 1"}, "", 2,
      {"--records"}, /*reports_backend=*/false));
  ASSERT_EQ(capture_.records.size(), 2u) << capture_.DescribeRecords();
  for (const nlohmann::json& r : capture_.records) {
    const bool client = r.value("side", "") == "client";
    SCOPED_TRACE(r.dump());
    EXPECT_EQ(r.value("proto", ""), "postgres");
    EXPECT_EQ(r.value("comm", ""), client ? "psql" : "postgres");
    EXPECT_EQ(r.value("pid", 0) == client_pid_, client);
    EXPECT_EQ(r.value(client ? "raddr" : "laddr", ""), server_addr_);
    EXPECT_EQ(r.value("method", ""), "Startup");
    EXPECT_EQ(r.value("target", ""), "postgres");
    EXPECT_EQ(r.value("status", 0), 2);
    EXPECT_EQ(r.value("db_error_code", ""), "28P01");
    EXPECT_EQ(r.value("db_error_message", ""),
              "password authentication failed for user \"postgres\"");
    EXPECT_GT(r.value("latency_ns", uint64_t{0}), 0u);
    EXPECT_FALSE(r.contains("error"));
  }
  EXPECT_NE(capture_.records[0].value("side", ""), capture_.records[1].value("side", ""));
  ExpectNoLoss(capture_);
}

// pgbench's TPC-B-like transactions with -M prepared (libpq's extended
// protocol, statements prepared once, executed 50 times each): every
// statement of every transaction is an Execute with its prepared text on
// both sides, and nothing goes unanswered.
TEST_F(PostgresRecordsTest, PgbenchPrepared) {
  const std::string pgbench = std::string(kPgBin) + "/pgbench";
  ASSERT_EQ(access(pgbench.c_str(), X_OK), 0) << pgbench << " is missing (Debian's postgresql-15)";
  RunResult init = RunToEnd(AsPostgres({pgbench, "-i", "-s", "1", Conninfo()}), 120s);
  ASSERT_EQ(init.status, 0) << init.out << init.err;
  constexpr int kTransactions = 50;
  ASSERT_NO_FATAL_FAILURE(RunClient(
      {pgbench, "-n", "-c", "1", "-t", std::to_string(kTransactions), "-M", "prepared", Conninfo()},
      "", 0, {"--records"}, /*reports_backend=*/false));
  // The builtin tpcb-like script, its variables numbered in order.
  const std::vector<std::pair<std::string, int64_t>> script = {
      {"BEGIN;", -1},
      {"UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;", 1},
      {"SELECT abalance FROM pgbench_accounts WHERE aid = $1;", 1},
      {"UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2;", 1},
      {"UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2;", 1},
      {"INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, "
       "CURRENT_TIMESTAMP);",
       1},
      {"END;", -1}};
  for (const std::string side : {"client", "server"}) {
    SCOPED_TRACE(side);
    std::vector<nlohmann::json> executes;
    std::set<pid_t> pids;
    for (const nlohmann::json& r : capture_.records) {
      if (r.value("side", "") != side || r.value("method", "") != "Execute") continue;
      executes.push_back(r);
      pids.insert(r.value("pid", 0));
    }
    ASSERT_EQ(executes.size(), script.size() * kTransactions) << capture_.DescribeRecords();
    ASSERT_EQ(pids.size(), 1u) << "one connection, one process";
    EXPECT_EQ(*pids.begin() == client_pid_, side == "client");
    for (size_t i = 0; i < executes.size(); ++i) {
      const nlohmann::json& r = executes[i];
      const auto& [text, rows] = script[i % script.size()];
      SCOPED_TRACE(r.dump());
      EXPECT_EQ(r.value("comm", ""), side == "client" ? "pgbench" : "postgres");
      EXPECT_EQ(r.value(side == "client" ? "raddr" : "laddr", ""), server_addr_);
      EXPECT_EQ(r.value("target", ""), text);
      EXPECT_EQ(r.value("status", 0), 1);
      EXPECT_EQ(r.value("rows", int64_t{-1}), rows);
      EXPECT_GT(r.value("latency_ns", uint64_t{0}), 0u);
      EXPECT_FALSE(r.contains("error"));
    }
  }
  const nlohmann::json* stats = capture_.final_stats();
  ASSERT_TRUE(stats && stats->contains("records"));
  EXPECT_EQ(stats->at("records").value("errors", uint64_t{1}), 0u) << stats->dump();
  EXPECT_EQ(stats->at("records").value("postgres_unmatched", uint64_t{1}), 0u) << stats->dump();
  EXPECT_EQ(stats->at("records").value("postgres_db_errors", uint64_t{1}), 0u) << stats->dump();
  ExpectNoLoss(capture_);
}

}  // namespace
}  // namespace tlstap::bpf_test
