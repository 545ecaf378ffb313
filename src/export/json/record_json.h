// A protocol record as one JSON line (--records --json):
//   {"type":"record","proto":"http1","ts_ns":..,"pid":..,"comm":"curl",
//    "lib":"openssl","side":"client","fd":5,"laddr":..,"raddr":..,"conn_id":..,
//    "method":"GET","target":"/","host":"localhost:8443","status":200,
//    "latency_ns":..,"request_bytes":..,"response_bytes":..,
//    "request_body_bytes":..,"response_body_bytes":..}
// ("proto":"http2" for HTTP/2 streams, with "stream_id":N after the body
// sizes), then "grpc_status":N,"grpc_message":".." when the response
// carried grpc-status, then "error":"..." when the pair is incomplete. A side not seen leaves
// its fields empty: method, target and host "", status and latency_ns 0.
// Field names are an interface: extend, never rename.
#pragma once

#include <string>

#include "protocols/record.h"

namespace tlstap::exporting {

// Appends the line, '\n' included, to *out.
void append_record_json(std::string* out, const protocols::Record& r);

}  // namespace tlstap::exporting
