// The live table's record rows (--records), one per request/response pair:
//   TIME COMM PID CONNECTION PROTO STATUS LATENCY REQ RESP REQUEST
// TIME is when the request's first byte was seen; REQ and RESP are the
// sizes on the wire (start line, headers and body); REQUEST is the method
// and target (HTTP/2: :method and :path), then "grpc-status=N" when the
// response carried one, then the record's error in brackets if it has one.
#pragma once

#include <cstdint>
#include <string>

#include "protocols/record.h"

namespace tlstap::exporting {

// The header line, and one record's line, each ending in '\n'.
std::string format_record_header();
std::string format_record_row(const protocols::Record& r, bool utc);
// "fd 5 127.0.0.1:51514 > 127.0.0.1:8443": ">" where this process sent the
// requests (the client), "<" where it received them (the server).
std::string format_record_connection(const protocols::Record& r);
// "850us", "12.345ms", "1.234s"; "-" for 0 (a side of the pair is missing).
std::string format_latency(uint64_t ns);

}  // namespace tlstap::exporting
