// HTTP/1.x parsing of one direction of a connection.
//
// Start lines, headers, Content-Length and chunked bodies are parsed by
// nodejs's http-parser (Debian's libhttp-parser-dev): a push parser that has
// been run on untrusted input by node for a decade, handles every framing
// rule (chunk extensions, trailers, obsolete line folding, 1xx/204/304
// without bodies, Upgrade/CONNECT) and bounds header bytes. Its successor
// llhttp and picohttpparser are not packaged in Debian 12. Being a push
// parser it keeps its place between calls, so bodies are counted as they
// pass and never held: memory per connection does not grow with a body.
//
// The protocol interface names (ParseFrame, FindFrameBoundary, Stitch)
// are the design's, shared by every protocol folder.
#pragma once

#include <http_parser.h>

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

#include "protocols/http1/types.h"
#include "protocols/parse_state.h"

namespace tlstap::protocols::http1 {

// What the two directions of one connection must know of each other. The
// request direction is parsed up to a point in time before the response
// direction is (the reassembler hands on events in arrival order).
struct ConnState {
  // Methods (http_method) of requests not answered yet, oldest first: a
  // response to HEAD has no body whatever its headers say, nor a 2xx to CONNECT.
  std::deque<uint8_t> request_methods;
  bool upgrade_requested = false;  // a request asked to switch protocols; no answer yet
  bool upgraded = false;           // 101 (or CONNECT's 2xx): no more HTTP/1 either way
};

// Where a message of this type could start in buf, at or after start: a
// line start (offset 0 counts as one) followed by a known method and a
// space (requests; and " HTTP/1.x" at the end of the line when the line is
// complete) or "HTTP/1.x ddd" (responses). npos when there is none.
size_t FindFrameBoundary(MessageType type, std::string_view buf, size_t start);

class Parser {
 public:
  // conn is shared with the other direction's parser and must outlive this one.
  Parser(MessageType type, ConnState* conn);
  Parser(const Parser&) = delete;  // http-parser calls back into this object
  Parser& operator=(const Parser&) = delete;

  // The return time of the call whose bytes are passed next.
  void set_timestamp(uint64_t ts_ns) { ts_ns_ = ts_ns; }

  // Parses from the start of *buf and advances it past what it consumed:
  //  kSuccess: one whole message is in *msg; consumed up to its last byte.
  //  kNeedsMoreData: all of *buf consumed; the parser holds the message so
  //    far (headers; the body only counted) and goes on with the next bytes.
  //  kIgnored: consumed bytes that start no message: an interim 1xx response
  //    (in *msg, for the curious), or bytes skipped while looking for a
  //    message start after lost or invalid bytes (all of *buf, or up to the
  //    start found).
  //  kInvalid: the bytes were not HTTP/1: consumed up to the first bad byte
  //    (at least one); the message in progress is dropped and the next call
  //    looks for the next FindFrameBoundary.
  //  kEndOfStream: the connection switched protocols (101 Upgrade, CONNECT):
  //    all of *buf consumed and counted in ignored_bytes(), now and after.
  ParseState ParseFrame(std::string_view* buf, Message* msg);

  // Bytes were lost here: the message in progress, if its headers were
  // complete, comes back truncated; parsing resumes at the next frame boundary.
  std::optional<Message> on_gap();
  // The connection ended: a body delimited by the close ends here (whole);
  // any other message in progress comes back truncated if its headers were seen.
  std::optional<Message> on_close();

  uint64_t skipped_bytes() const { return skipped_bytes_; }  // looking for a message start
  uint64_t ignored_bytes() const { return ignored_bytes_; }  // after the protocol switched
  uint64_t interim_responses() const { return interim_responses_; }
  uint64_t invalid() const { return invalid_; }

 private:
  static int on_message_begin(http_parser* p);
  static int on_url(http_parser* p, const char* at, size_t len);
  static int on_status(http_parser* p, const char* at, size_t len);
  static int on_header_field(http_parser* p, const char* at, size_t len);
  static int on_header_value(http_parser* p, const char* at, size_t len);
  static int on_headers_complete(http_parser* p);
  static int on_body(http_parser* p, const char* at, size_t len);
  static int on_message_complete(http_parser* p);

  // Runs http-parser over *buf up to the end of one message.
  ParseState execute(std::string_view* buf, Message* msg);
  // At a request's start: takes the method token (any RFC 9110 token, not
  // only those http-parser knows) and hands it to http-parser; nullopt
  // when http-parser goes on with the rest of *buf.
  std::optional<ParseState> take_method(std::string_view* buf);
  // The bytes are not HTTP/1 after `good` bytes of *buf: kInvalid (or
  // kEndOfStream after a request to switch protocols).
  ParseState fail(std::string_view* buf, size_t good);
  // Looks for a message start; false when *buf held none (all consumed).
  bool resync(std::string_view* buf);
  // A message ended: updates the connection state, hands the message over.
  ParseState complete(Message* msg);
  void restart();

  MessageType type_;
  ConnState* conn_;
  http_parser parser_;
  http_parser_settings settings_;
  Message cur_;
  bool started_ = false;        // on_message_begin seen
  bool headers_done_ = false;   // later header callbacks are trailers
  bool last_was_value_ = true;  // the next header field starts a new pair
  bool complete_ = false;       // on_message_complete seen during this execute
  bool resync_ = false;         // look for a message start before parsing
  bool after_gap_ = false;      // the next message is flagged after_gap
  bool ended_ = false;          // the protocol switched
  bool at_line_start_ = false;  // while resynchronising: the next byte starts a line
  bool method_fed_ = false;     // the request's method was handed to http-parser
  std::string method_;          // the request's method token as sent
  std::string carry_;           // the end of skipped bytes, to find a start split across calls
  uint64_t ts_ns_ = 0;
  uint64_t skipped_bytes_ = 0, ignored_bytes_ = 0, interim_responses_ = 0, invalid_ = 0;
};

}  // namespace tlstap::protocols::http1
