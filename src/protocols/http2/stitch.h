// One HTTP/2 connection's streams, from the frames of both directions:
// each request (the client's HEADERS, CONTINUATION and DATA on a stream)
// paired with the response on the same stream id into a Record, made when
// both sides have ended the stream (END_STREAM), at a RST_STREAM, or when
// the connection closes.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "protocols/http2/parse.h"
#include "protocols/record.h"

namespace tlstap::protocols::http2 {

struct Limits {
  size_t max_frame_payload = 256 * 1024;  // non-DATA frames larger are skipped, counted
  size_t max_header_block = 256 * 1024;   // one HEADERS/PUSH_PROMISE plus its CONTINUATIONs
  size_t max_streams = 256;               // open streams per connection; more are not recorded
  size_t max_header_table = 64 * 1024;    // HPACK dynamic table accepted per direction
  size_t max_field_kept = 4096;           // :path, :authority, grpc-message are cut to this
};

struct Stats {
  uint64_t records = 0, errors = 0;  // records made, those with an error
  uint64_t resets = 0;               // streams ended by RST_STREAM (records with an error)
  uint64_t gaps = 0;                 // gaps in the streams of HTTP/2 connections
  // Connection directions whose HPACK state was given up (a gap or a
  // skipped header block): their later headers are not decoded.
  uint64_t hpack_lost = 0;
  uint64_t hpack_errors = 0;             // header blocks nghttp2 could not decode
  uint64_t invalid = 0;                  // no preface, CONTINUATION out of place, bad padding
  uint64_t oversized_frames = 0;         // non-DATA frames over Limits::max_frame_payload
  uint64_t oversized_header_blocks = 0;  // header blocks over Limits::max_header_block
  uint64_t stream_overflows = 0;         // streams not recorded: Limits::max_streams open
  uint64_t pushes = 0;                   // PUSH_PROMISE frames (pushed streams are not recorded)
  uint64_t unknown_stream_frames =
      0;                        // frames of streams not recorded (pushed, late, over the cap)
  uint64_t control_frames = 0;  // SETTINGS, PING, WINDOW_UPDATE, PRIORITY, GOAWAY, extensions
};

class Connection {
 public:
  using RecordHandler = std::function<void(Record&&)>;
  Connection(const Limits& limits, Stats* stats)
      : limits_(limits), stats_(stats), sides_{Side(limits), Side(limits)} {}
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // A whole frame of the client's direction (from_client) or the server's.
  void on_frame(bool from_client, const Frame& frame, const RecordHandler& emit);
  // A direction's framing is lost (a gap over a frame header): its header
  // blocks are not decoded any more and its open streams cannot end.
  void on_framing_lost(bool from_client);
  // The connection ended: every open stream becomes a record with an error.
  void close(const RecordHandler& emit);

  size_t open_streams() const { return streams_.size(); }

 private:
  // The fields of a header block that records use.
  struct Fields {
    std::string method, path, authority, grpc_message;
    int status = 0, grpc_status = -1;
  };
  enum class BlockKind : uint8_t { kHeaders, kPushPromise };
  struct Side {
    explicit Side(const Limits& limits) : hpack(limits.max_header_table) {}
    HeaderDecoder hpack;
    bool in_block = false;  // CONTINUATION expected next
    BlockKind block_kind = BlockKind::kHeaders;
    uint32_t block_stream = 0;
    bool block_end_stream = false;  // the HEADERS frame had END_STREAM
    bool block_decoded = true;      // every fragment went through the decoder
    uint64_t block_bytes = 0;
    Fields fields;
  };
  struct Stream {
    uint32_t id = 0;
    Fields request;
    int status = 0;  // the final (non-1xx) status once seen
    int grpc_status = -1;
    std::string grpc_message;
    uint64_t request_bytes = 0, response_bytes = 0;
    uint64_t request_body_bytes = 0, response_body_bytes = 0;
    uint64_t first_ts_ns = 0, last_ts_ns = 0;
    bool request_headers = false, request_ended = false;
    bool response_headers = false, response_ended = false;
    bool headers_lost = false;  // a block of this stream was not decoded
    bool cut = false;           // bytes of this stream were lost
  };

  Side& side(bool from_client) { return sides_[from_client ? 0 : 1]; }
  Stream* find(uint32_t id);
  void header_fragment(bool from_client, const Frame& f, const RecordHandler& emit);
  void end_block(bool from_client, const Frame& f, const RecordHandler& emit);
  // END_STREAM from one side; the record is made when both sides ended.
  void end_stream(Stream* st, bool from_client, const Frame& f, const RecordHandler& emit);
  void lose_hpack(Side* s);
  void finish(uint32_t id, std::string error, const RecordHandler& emit);
  void keep(std::string* to, std::string_view value) const;

  Limits limits_;
  Stats* stats_;
  Side sides_[2];  // the client's direction, the server's
  std::map<uint32_t, Stream> streams_;
  uint32_t max_client_stream_ = 0;
};

}  // namespace tlstap::protocols::http2
