// The extended query protocol through libpq, for postgres_records_bpf_test:
// pg_client CONNINFO. Prints "PID PORT" (the backend serving it and its own
// port, as the server sees them), then one line per command: its status
// and SQLSTATE ("-" when none) and the rows affected or returned.
//   1 PQexec        CREATE TEMP TABLE items (id int PRIMARY KEY, name text)
//   2 PQprepare     "ins": INSERT INTO items VALUES ($1, $2)   (no record)
//   3 PQexecPrepared "ins" (1, 'one')
//   4 PQexecPrepared "ins" (2, 'two')
//   5 PQexecParams  SELECT name FROM items WHERE id >= $1 ORDER BY id  ($1 = 1)
//   6 PQprepare     "bad": SELEC 1                             (syntax error)
//   7 PQexecPrepared "ins" (1, 'again')                        (duplicate key)
#include <libpq-fe.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

void Report(const char* what, PGresult* res) {
  const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
  const char* tuples = PQcmdTuples(res);
  long rows = PQresultStatus(res) == PGRES_TUPLES_OK ? PQntuples(res)
              : *tuples                              ? std::atol(tuples)
                                                     : -1;
  std::printf("%s %s %s %ld\n", what, PQresStatus(PQresultStatus(res)), state ? state : "-", rows);
  PQclear(res);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: pg_client CONNINFO\n");
    return 2;
  }
  PGconn* conn = PQconnectdb(argv[1]);
  if (PQstatus(conn) != CONNECTION_OK) {
    std::fprintf(stderr, "pg_client: %s", PQerrorMessage(conn));
    return 1;
  }
  if (!PQsslInUse(conn)) {
    std::fprintf(stderr, "pg_client: the connection is not TLS\n");
    return 1;
  }
  PGresult* who = PQexec(conn, "SELECT pg_backend_pid(), inet_client_port()");
  if (PQresultStatus(who) != PGRES_TUPLES_OK) {
    std::fprintf(stderr, "pg_client: %s", PQerrorMessage(conn));
    return 1;
  }
  std::printf("%s %s\n", PQgetvalue(who, 0, 0), PQgetvalue(who, 0, 1));
  PQclear(who);

  Report("create", PQexec(conn, "CREATE TEMP TABLE items (id int PRIMARY KEY, name text)"));
  Report("prepare", PQprepare(conn, "ins", "INSERT INTO items VALUES ($1, $2)", 2, nullptr));
  const char* first[] = {"1", "one"};
  Report("insert1", PQexecPrepared(conn, "ins", 2, first, nullptr, nullptr, 0));
  const char* second[] = {"2", "two"};
  Report("insert2", PQexecPrepared(conn, "ins", 2, second, nullptr, nullptr, 0));
  const char* from[] = {"1"};
  Report("select", PQexecParams(conn, "SELECT name FROM items WHERE id >= $1 ORDER BY id", 1,
                                nullptr, from, nullptr, nullptr, 0));
  Report("bad", PQprepare(conn, "bad", "SELEC 1", 0, nullptr));
  const char* again[] = {"1", "again"};
  Report("duplicate", PQexecPrepared(conn, "ins", 2, again, nullptr, nullptr, 0));
  PQfinish(conn);
  return 0;
}
