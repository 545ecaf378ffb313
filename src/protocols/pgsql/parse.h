// PostgreSQL messages from one direction's ordered bytes. Over TLS the
// client's first message is its StartupMessage (SSLRequest and
// GSSENCRequest travel before TLS, in cleartext, and are not seen), then
// tagged messages: tag byte, int32 length counting itself, payload.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "capture/events.h"
#include "protocols/parse_state.h"
#include "protocols/pgsql/types.h"
#include "protocols/router.h"

namespace tlstap::protocols::pgsql {

// What the first bytes of a direction say: kClient for a StartupMessage
// for protocol 3.x, kServer for an Authentication ('R') message, a
// PostgreSQL server's first. Needs 8 bytes (StartupMessage: length, version) or 9 (Authentication:
// tag, length, auth code). Never kClient or kServer for HTTP/1 or HTTP/2:
// a StartupMessage begins with a zero byte, then version 3 where an HTTP/2
// frame has its type and flags; 'R' is followed by a zero byte, which no
// HTTP/1 method has.
Opening ClassifyOpening(std::string_view first_bytes);

// Where a message of this direction could start in buf, at or after start:
// a tag of the direction, a length plausible for it and, when the bytes
// reach that far, another such header right after it. npos when none.
size_t FindFrameBoundary(bool client, std::string_view buf, size_t start);

// One direction's messages, pushed in as the bytes come. Payloads of the
// messages records read (client: the startup, Query, Parse, Bind, Describe,
// Execute, Close; server: ErrorResponse, CommandComplete, ReadyForQuery)
// are kept up to max_kept bytes; every other payload is only counted.
class MessageParser {
 public:
  // client: the client's direction, whose first message is the untagged startup.
  MessageParser(bool client, size_t max_kept)
      : client_(client), max_kept_(max_kept), stage_(client ? Stage::kStartup : Stage::kHeader) {}

  // kSuccess: one whole message in *msg; its bytes are consumed from *in.
  // kNeedsMoreData: all of *in consumed, no message complete yet.
  // kInvalid: the bytes at the front are no message of this direction (a
  //   bad tag or length): nothing consumed; the parser now looks for the
  //   next FindFrameBoundary.
  // kIgnored: bytes skipped while looking for a message start (all of *in,
  //   or up to the start found).
  ParseState ParseFrame(std::string_view* in, Message* msg, uint64_t ts_ns);

  // len bytes at the current position will never come. If they fall inside
  // the current message's payload the framing survives (the message is
  // marked lost; if the gap ends it, it is returned); otherwise the parser
  // looks for the next FindFrameBoundary.
  std::optional<Message> on_gap(uint64_t len);

  // Framing was lost (a gap over a header, or bytes that were no message):
  // the next message is the first found by FindFrameBoundary.
  bool resyncing() const { return stage_ == Stage::kResync; }

  uint64_t skipped_bytes() const { return skipped_bytes_; }
  uint64_t invalid() const { return invalid_; }
  uint64_t cut() const { return cut_; }  // payloads longer than max_kept

 private:
  enum class Stage : uint8_t { kStartup, kHeader, kPayload, kResync };
  bool keeps(char tag) const;
  Message finish();

  bool client_;
  size_t max_kept_;
  Stage stage_;
  std::string header_;      // up to kHeaderSize bytes (4 for the startup)
  Message msg_;             // in progress
  uint64_t remaining_ = 0;  // payload bytes still to come
  bool keep_ = false;
  uint64_t skipped_bytes_ = 0, invalid_ = 0, cut_ = 0;
};

}  // namespace tlstap::protocols::pgsql
