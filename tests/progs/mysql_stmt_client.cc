// mysql_stmt_client: binary prepared statements over TLS with Debian's
// libmariadb (Connector/C), for tlstap's MySQL records test. Usage:
//   mysql_stmt_client HOST PORT USER DATABASE
// Connects with TLS required (the server's certificate is not verified:
// the test makes a self-signed one), then
//   COM_STMT_PREPARE  SELECT id, name FROM items WHERE id <= ? ORDER BY id
//   COM_STMT_EXECUTE  with ? = 2, fetching every row
//   COM_STMT_PREPARE  INSERT INTO items (name) VALUES (?)
//   COM_STMT_EXECUTE  with ? = "stmt"
//   COM_STMT_CLOSE    both
//   COM_QUIT
// and prints one line per step on stdout ("port P", "select rows N",
// "insert affected N"); any failure is one line on stderr and exit 1.
#include <arpa/inet.h>
#include <mysql.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

[[noreturn]] void Fail(const char* what, const char* error) {
  std::fprintf(stderr, "mysql_stmt_client: %s: %s\n", what, error);
  std::exit(1);
}

MYSQL_STMT* Prepare(MYSQL* db, const std::string& text) {
  MYSQL_STMT* stmt = mysql_stmt_init(db);
  if (!stmt) Fail("mysql_stmt_init", mysql_error(db));
  if (mysql_stmt_prepare(stmt, text.data(), text.size()) != 0)
    Fail("mysql_stmt_prepare", mysql_stmt_error(stmt));
  return stmt;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: mysql_stmt_client HOST PORT USER DATABASE\n");
    return 2;
  }
  MYSQL* db = mysql_init(nullptr);
  my_bool enforce = 1, verify = 0;
  mysql_optionsv(db, MYSQL_OPT_SSL_ENFORCE, &enforce);
  mysql_optionsv(db, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
  if (!mysql_real_connect(db, argv[1], argv[3], "", argv[4], std::atoi(argv[2]), nullptr, 0))
    Fail("mysql_real_connect", mysql_error(db));
  if (!mysql_get_ssl_cipher(db)) Fail("TLS", "the connection is not encrypted");
  sockaddr_in local{};
  socklen_t len = sizeof(local);
  if (getsockname(mysql_get_socket(db), reinterpret_cast<sockaddr*>(&local), &len) != 0)
    Fail("getsockname", std::strerror(errno));
  std::printf("port %d\n", ntohs(local.sin_port));

  MYSQL_STMT* select = Prepare(db, "SELECT id, name FROM items WHERE id <= ? ORDER BY id");
  long long max_id = 2;
  MYSQL_BIND param{};
  param.buffer_type = MYSQL_TYPE_LONGLONG;
  param.buffer = &max_id;
  if (mysql_stmt_bind_param(select, &param) != 0) Fail("bind", mysql_stmt_error(select));
  if (mysql_stmt_execute(select) != 0) Fail("execute", mysql_stmt_error(select));
  long long id = 0;
  char name[64];
  unsigned long name_len = 0;
  MYSQL_BIND out[2]{};
  out[0].buffer_type = MYSQL_TYPE_LONGLONG;
  out[0].buffer = &id;
  out[1].buffer_type = MYSQL_TYPE_STRING;
  out[1].buffer = name;
  out[1].buffer_length = sizeof(name);
  out[1].length = &name_len;
  if (mysql_stmt_bind_result(select, out) != 0) Fail("bind_result", mysql_stmt_error(select));
  int rows = 0;
  int status;
  while ((status = mysql_stmt_fetch(select)) == 0 || status == MYSQL_DATA_TRUNCATED) ++rows;
  if (status != MYSQL_NO_DATA) Fail("fetch", mysql_stmt_error(select));
  std::printf("select rows %d\n", rows);

  MYSQL_STMT* insert = Prepare(db, "INSERT INTO items (name) VALUES (?)");
  char value[] = "stmt";
  unsigned long value_len = 4;
  MYSQL_BIND text{};
  text.buffer_type = MYSQL_TYPE_STRING;
  text.buffer = value;
  text.buffer_length = value_len;
  text.length = &value_len;
  if (mysql_stmt_bind_param(insert, &text) != 0) Fail("bind", mysql_stmt_error(insert));
  if (mysql_stmt_execute(insert) != 0) Fail("execute", mysql_stmt_error(insert));
  std::printf("insert affected %llu\n",
              static_cast<unsigned long long>(mysql_stmt_affected_rows(insert)));

  mysql_stmt_close(select);
  mysql_stmt_close(insert);
  mysql_close(db);
  std::fflush(stdout);
  return 0;
}
