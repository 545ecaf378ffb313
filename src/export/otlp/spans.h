// --otlp: protocol records as OpenTelemetry spans, in the OTLP/HTTP JSON
// encoding of an ExportTraceServiceRequest (opentelemetry-proto's
// trace/v1/trace.proto through the protobuf JSON mapping, with OTLP's
// exceptions: trace and span ids as lowercase hex, enums as integers).
//
// A record is one span: SERVER on the side that received the request,
// CLIENT on the side that sent it; its start is the request's first byte,
// its end the response's last. Attributes follow the stable HTTP and the
// database semantic conventions; nothing of a header or a body is ever an
// attribute (the target is: url.path, url.query, db.query.text).
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "protocols/record.h"

namespace tlstap::exporting::otlp {

// What the spans of a batch share: the host, and what made them.
struct Origin {
  std::string host_name;
  std::string scope_version;  // tlstap's version
};

struct SpanIds {
  std::array<uint8_t, 16> trace_id{};
  std::array<uint8_t, 8> span_id{};
};

// One span to send: the record it describes, its ids, and its process's
// executable file name ("" when unknown, then its command name is used).
struct Span {
  protocols::Record record;
  SpanIds ids;
  std::string executable;
};

// Random ids, neither of them all zero (the spec's "invalid" id). Not
// cryptographic: ids only need to be unique.
class IdGenerator {
 public:
  IdGenerator();
  SpanIds next();

 private:
  uint64_t state_[2];
};

// The JSON body of one POST /v1/traces: one resourceSpans per process (in
// the order their first span comes), each with one scopeSpans ("tlstap").
std::string encode_traces(const std::vector<Span>& spans, const Origin& origin);

// The span name: the HTTP method ("HTTP" when the request was not seen),
// the database command (else the database's name).
std::string span_name(const protocols::Record& r);

}  // namespace tlstap::exporting::otlp
