// A request paired with its response (or one of them alone with an error),
// for every request/response protocol: what --records exports. Each
// protocol fills what it has; field names follow HTTP, and the databases
// fill them as their closest HTTP meaning (below).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "streams/reassembler.h"

namespace tlstap::protocols {

enum class Proto : uint8_t { kHttp1, kHttp2, kMysql, kPostgres };

// "http1", "http2", "mysql", "postgres": the proto of record rows and JSON lines.
std::string_view proto_name(Proto proto);

struct Record {
  streams::ConnInfo conn;  // attribution, from the connection
  // The client's side of the connection: requests were sent (tx) or received.
  bool client = true;

  std::string method;  // "" when the request was not seen
  std::string target;  // HTTP/1: the request target as sent; HTTP/2: :path
  std::string host;    // HTTP/1: the Host header; HTTP/2: :authority; "" when absent or not seen
  int status = 0;      // 0 when the response was not seen
  // On the wire. HTTP/1: start line to the end of the body. HTTP/2: the
  // stream's HEADERS, CONTINUATION and DATA frames, 9-byte frame headers included.
  uint64_t request_bytes = 0, response_bytes = 0;
  // Decoded: HTTP/1 chunk framing removed; HTTP/2 DATA payloads without padding.
  uint64_t request_body_bytes = 0, response_body_bytes = 0;
  uint64_t ts_ns = 0;  // the request's first byte (else the response's)
  // Response's last byte minus request's first byte, both the return times
  // of the TLS calls that carried them; 0 when either side is missing.
  uint64_t latency_ns = 0;
  std::string error;  // "" for a whole request with its whole response

  Proto proto = Proto::kHttp1;
  uint32_t stream_id = 0;  // HTTP/2: the stream's id
  // gRPC over HTTP/2: grpc-status from the trailers (or a trailers-only
  // response), -1 when absent; grpc-message with it ("" when absent).
  int grpc_status = -1;
  std::string grpc_message;

  // Databases (MySQL, PostgreSQL). method: the command (MySQL "COM_QUERY",
  // "COM_STMT_PREPARE", "COM_STMT_EXECUTE", ...; PostgreSQL "Query",
  // "Parse", "Bind", "Execute", ...). target: the statement's text, for an
  // execute the prepared statement's text when its prepare was seen.
  // status: 1 for success, 2 for a server error (then db_error_* say which),
  // 0 when no response was seen.
  int64_t rows = -1;             // rows returned or affected; -1 when not known
  std::string db_error_code;     // MySQL error number, PostgreSQL SQLSTATE
  std::string db_error_message;  // the server's message
};

// Record::status of a database command.
inline constexpr int kDbOk = 1;
inline constexpr int kDbError = 2;

}  // namespace tlstap::protocols
