// HTTP/1.x messages as parsed from one direction, and the records made by
// pairing a request with its response.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "capture/events.h"
#include "protocols/record.h"
#include "streams/reassembler.h"

namespace tlstap::protocols::http1 {

enum class MessageType : uint8_t { kRequest, kResponse };

// Why a message was cut short.
enum class Cut : uint8_t {
  kNone,
  kLostBytes,      // bytes of it were never captured
  kConnectionEnd,  // the connection ended before the length it declared
};

using Headers = std::vector<std::pair<std::string, std::string>>;

// Bodies are counted whole but kept only this far: records need sizes, and
// a 1 GiB download must not cost 1 GiB.
inline constexpr size_t kMaxBodyKept = 4096;

struct Message {
  MessageType type = MessageType::kRequest;
  int version_minor = 1;  // HTTP/1.<minor>
  std::string method;     // requests: "GET", ...
  std::string target;     // requests: as sent, "/path?query"
  int status = 0;         // responses
  std::string reason;     // responses: "OK"
  Headers headers;
  Headers trailers;        // after a chunked body
  std::string body;        // its first kMaxBodyKept bytes, chunk framing removed
  uint64_t body_size = 0;  // whole body, chunk framing removed
  uint64_t wire_size = 0;  // bytes on the wire, start line to the end of the body
  bool chunked = false;
  bool upgrade = false;     // a request asking to switch protocols, a 101 or CONNECT's 2xx
  bool truncated = false;   // lost bytes or the connection's end cut it short
  Cut cut_by = Cut::kNone;  // which, when truncated
  // The first message found after lost bytes: messages before it may be
  // missing entirely, so pairing cannot trust order across it.
  bool after_gap = false;
  // Return times of the calls carrying its first and last byte.
  uint64_t first_ts_ns = 0, last_ts_ns = 0;

  // The first value of a header, by case-insensitive name; "" when absent.
  std::string_view header(std::string_view name) const;
};

// A request and its response, or one of them alone with an error; the
// record shape every protocol shares (proto kHttp1 here).
using Record = protocols::Record;

}  // namespace tlstap::protocols::http1
