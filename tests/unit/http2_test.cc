// HTTP/2 framing, HPACK and stream pairing on byte literals, one comment
// per field. Frames are fed as the reassembler hands them on: whole, split
// anywhere, interleaved between streams, or with bytes lost.
#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <string>
#include <vector>

#include "protocols/http2/parse.h"
#include "protocols/http2/stitch.h"
#include "protocols/http2/tracker.h"
#include "protocols/router.h"
#include "streams/reassembler.h"

namespace tlstap::protocols::http2 {
namespace {

using capture::Dir;
using namespace std::literals;

// The client preface: the fixed 24 bytes every h2 client sends first.
const std::string kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"s;

// The client's first SETTINGS frame: one setting.
const std::string kClientSettings =
    "\x00\x00\x06"        // length 6
    "\x04"                // type SETTINGS
    "\x00"                // flags none
    "\x00\x00\x00\x00"    // stream 0 (the connection)
    "\x00\x03"            // SETTINGS_MAX_CONCURRENT_STREAMS
    "\x00\x00\x00\x64"s;  // 100

// The server's first SETTINGS frame, empty, and its ACK of the client's.
const std::string kServerSettings =
    "\x00\x00\x00"        // length 0
    "\x04"                // type SETTINGS
    "\x00"                // flags none
    "\x00\x00\x00\x00"    // stream 0
    "\x00\x00\x00"        // length 0
    "\x04"                // type SETTINGS
    "\x01"                // flags ACK
    "\x00\x00\x00\x00"s;  // stream 0

// GET https://example.com/index on stream 1, one HEADERS frame.
const std::string kGetHeaders =
    "\x00\x00\x17"      // length 23
    "\x01"              // type HEADERS
    "\x05"              // flags END_STREAM | END_HEADERS
    "\x00\x00\x00\x01"  // stream 1
    "\x82"              // :method GET (static table 2)
    "\x87"              // :scheme https (static table 7)
    "\x41\x0b"          // :authority (static name 1), literal indexed: dynamic 62; 11 bytes
    "example.com"       //   the value
    "\x04\x06"          // :path (static name 4), literal not indexed; 6 bytes
    "/index"s;          //   the value

// 200 with content-length on stream 1, then 5 bytes of DATA ending the stream.
const std::string kOkHeaders =
    "\x00\x00\x04"      // length 4
    "\x01"              // type HEADERS
    "\x04"              // flags END_HEADERS
    "\x00\x00\x00\x01"  // stream 1
    "\x88"              // :status 200 (static table 8)
    "\x5c\x01"          // content-length (static name 28), literal indexed; 1 byte
    "5"s;               //   the value
const std::string kOkData =
    "\x00\x00\x05"      // length 5
    "\x00"              // type DATA
    "\x01"              // flags END_STREAM
    "\x00\x00\x00\x01"  // stream 1
    "hello"s;           // the body

// A frame from its fields, for tests about something else than its bytes.
std::string Raw(uint8_t type, uint8_t flags, uint32_t stream, std::string_view payload) {
  std::string f;
  f += static_cast<char>(payload.size() >> 16);
  f += static_cast<char>(payload.size() >> 8);
  f += static_cast<char>(payload.size());
  f += static_cast<char>(type);
  f += static_cast<char>(flags);
  for (int shift : {24, 16, 8, 0}) f += static_cast<char>(stream >> shift);
  f.append(payload);
  return f;
}

// Header blocks from nghttp2's own encoder, one per direction (its
// dynamic table carries across blocks, as a real peer's does).
class Deflater {
 public:
  Deflater() { nghttp2_hd_deflate_new(&d_, 4096); }
  ~Deflater() { nghttp2_hd_deflate_del(d_); }
  std::string Block(std::vector<std::pair<std::string, std::string>> fields) {
    std::vector<nghttp2_nv> nva;
    for (auto& [n, v] : fields) {
      nva.push_back({reinterpret_cast<uint8_t*>(n.data()), reinterpret_cast<uint8_t*>(v.data()),
                     n.size(), v.size(), NGHTTP2_NV_FLAG_NONE});
    }
    std::string out(nghttp2_hd_deflate_bound(d_, nva.data(), nva.size()), '\0');
    ssize_t n = nghttp2_hd_deflate_hd(d_, reinterpret_cast<uint8_t*>(out.data()), out.size(),
                                      nva.data(), nva.size());
    out.resize(n < 0 ? 0 : n);
    return out;
  }

 private:
  nghttp2_hd_deflater* d_ = nullptr;
};

// A Tracker fed as the reassembler would, on the client's side (tx
// carries the preface) unless told otherwise; ts_ns advances by 1000 per call.
class Conn {
 public:
  explicit Conn(Limits limits = {}, Dir client_dir = Dir::kTx)
      : tracker_([this](Record&& r) { records.push_back(std::move(r)); }, limits),
        client_dir_(client_dir) {
    info_.conn_id = 9;
    info_.pid = 77;
    info_.comm = "curl";
  }
  void Client(std::string_view bytes) { Feed(client_dir_, bytes); }
  void Server(std::string_view bytes) { Feed(Other(client_dir_), bytes); }
  void Feed(Dir dir, std::string_view bytes) {
    ts_ += 1000;
    tracker_.on_data(info_, dir, pos_[Index(dir)], bytes, ts_);
    pos_[Index(dir)] += bytes.size();
  }
  void Gap(Dir dir, uint64_t len) {
    tracker_.on_gap(info_, dir, pos_[Index(dir)], len);
    pos_[Index(dir)] += len;
  }
  void ClientGap(uint64_t len) { Gap(client_dir_, len); }
  void ServerGap(uint64_t len) { Gap(Other(client_dir_), len); }
  void Close() { tracker_.on_close(info_, streams::CloseReason::kClosed); }
  const Stats& stats() const { return tracker_.stats(); }
  uint64_t ts() const { return ts_; }

  std::vector<Record> records;

 private:
  static size_t Index(Dir d) { return d == Dir::kTx ? 0 : 1; }
  static Dir Other(Dir d) { return d == Dir::kTx ? Dir::kRx : Dir::kTx; }
  streams::ConnInfo info_;
  Tracker tracker_;
  Dir client_dir_;
  uint64_t pos_[2] = {0, 0};
  uint64_t ts_ = 0;
};

TEST(Http2Parse, FrameHeaderFields) {
  FrameHeader h = ParseFrameHeader(
      "\x00\x01\x02"          // length 258
      "\x01"                  // type HEADERS
      "\x2d"                  // flags PRIORITY | PADDED | END_HEADERS | END_STREAM
      "\x80\x00\x00\x05"sv);  // reserved bit set (ignored), stream 5
  EXPECT_EQ(h.length, 258u);
  EXPECT_EQ(h.type, 1);
  EXPECT_EQ(h.flags, 0x2d);
  EXPECT_EQ(h.stream_id, 5u);
}

TEST(Http2Parse, OpeningTellsClientServerAndOthers) {
  EXPECT_EQ(ClassifyOpening(kPreface + kClientSettings), Opening::kClient);
  EXPECT_EQ(ClassifyOpening("PRI * HT"), Opening::kNeedMore);
  EXPECT_EQ(ClassifyOpening(kServerSettings), Opening::kServer);
  EXPECT_EQ(ClassifyOpening("\x00\x00\x06\x04"sv), Opening::kNeedMore);
  EXPECT_EQ(ClassifyOpening("GET / HTTP/1.1\r\n"), Opening::kNo);
  EXPECT_EQ(ClassifyOpening("POST / HTTP/1.1\r\n"), Opening::kNo);
  EXPECT_EQ(ClassifyOpening("HTTP/1.1 200 OK\r\n"), Opening::kNo);
  // A SETTINGS header whose length is no multiple of 6 is not a SETTINGS frame.
  EXPECT_EQ(ClassifyOpening("\x00\x00\x05\x04\x00\x00\x00\x00\x00"sv), Opening::kNo);
}

TEST(Http2Parse, PaddedHeadersWithPriorityGiveTheirFragment) {
  Frame f;
  f.header.type = static_cast<uint8_t>(FrameType::kHeaders);
  f.header.flags = kFlagPadded | kFlagPriority | kFlagEndHeaders;
  f.payload =
      "\x02"              // pad length 2
      "\x00\x00\x00\x03"  // stream dependency 3
      "\x10"              // weight 17
      "\x82\x84"          // the fragment: :method GET, :path /
      "\x00\x00"s;        // padding
  EXPECT_EQ(HeaderBlockFragment(f), "\x82\x84"sv);
  f.payload = "\x09\x00\x00\x00\x03\x10\x82"s;  // pad length 9: more than is left
  EXPECT_EQ(HeaderBlockFragment(f), std::nullopt);
}

TEST(Http2Tracker, GetWithStaticAndLiteralHeaders) {
  Conn c;
  c.Client(kPreface + kClientSettings + kGetHeaders);  // ts 1000
  c.Server(kServerSettings);
  c.Server(kOkHeaders);
  EXPECT_TRUE(c.records.empty()) << "the response has not ended";
  c.Server(kOkData);  // ts 4000
  ASSERT_EQ(c.records.size(), 1u);
  const Record& r = c.records[0];
  EXPECT_EQ(r.proto, Proto::kHttp2);
  EXPECT_EQ(r.stream_id, 1u);
  EXPECT_TRUE(r.client);
  EXPECT_EQ(r.conn.pid, 77);
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.target, "/index");
  EXPECT_EQ(r.host, "example.com");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.request_bytes, 9u + 23);          // the HEADERS frame
  EXPECT_EQ(r.response_bytes, 9u + 4 + 9 + 5);  // HEADERS and DATA frames
  EXPECT_EQ(r.request_body_bytes, 0u);
  EXPECT_EQ(r.response_body_bytes, 5u);
  EXPECT_EQ(r.ts_ns, 1000u);
  EXPECT_EQ(r.latency_ns, 3000u);
  EXPECT_EQ(r.grpc_status, -1);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(c.stats().records, 1u);
  EXPECT_EQ(c.stats().control_frames, 3u) << "three SETTINGS frames";
}

TEST(Http2Tracker, DynamicTableCarriesAcrossStreams) {
  Conn c;
  c.Client(kPreface + kGetHeaders);
  c.Server(kOkHeaders + kOkData);
  c.Client(
      "\x00\x00\x03"      // length 3
      "\x01"              // type HEADERS
      "\x05"              // flags END_STREAM | END_HEADERS
      "\x00\x00\x00\x03"  // stream 3
      "\x82"              // :method GET
      "\xbe"              // :authority example.com: dynamic table 62, from stream 1's block
      "\x84"s);           // :path / (static table 4)
  c.Server(
      "\x00\x00\x02"      // length 2
      "\x01"              // type HEADERS
      "\x05"              // flags END_STREAM | END_HEADERS
      "\x00\x00\x00\x03"  // stream 3
      "\x8d"              // :status 404 (static table 13)
      "\xbe"s);           // content-length 5: the server's own dynamic table 62
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[1].stream_id, 3u);
  EXPECT_EQ(c.records[1].host, "example.com");
  EXPECT_EQ(c.records[1].target, "/");
  EXPECT_EQ(c.records[1].status, 404);
  EXPECT_EQ(c.records[1].response_body_bytes, 0u);
}

TEST(Http2Tracker, TwoStreamsInterleavedPairByIdNotOrder) {
  Conn c;
  Deflater client, server;
  std::string a = client.Block(
      {{":method", "POST"}, {":scheme", "https"}, {":authority", "h"}, {":path", "/upload"}});
  std::string b = client.Block(
      {{":method", "GET"}, {":scheme", "https"}, {":authority", "h"}, {":path", "/small"}});
  c.Client(kPreface + Raw(0x1, 0x4, 1, a));  // HEADERS, END_HEADERS, stream 1
  c.Client(Raw(0x1, 0x5, 3, b));             // HEADERS, END_STREAM|END_HEADERS, stream 3
  c.Client(Raw(0x0, 0x0, 1, "0123456789"));  // DATA stream 1, 10 bytes
  c.Server(Raw(0x1, 0x4, 3, server.Block({{":status", "200"}})));  // stream 3 answered first
  c.Client(Raw(0x0, 0x1, 1, "abc"));                               // DATA stream 1, END_STREAM
  c.Server(Raw(0x0, 0x1, 3, "small"));  // DATA stream 3, END_STREAM: its record
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].stream_id, 3u);
  EXPECT_EQ(c.records[0].target, "/small");
  EXPECT_EQ(c.records[0].response_body_bytes, 5u);
  c.Server(Raw(0x1, 0x5, 1, server.Block({{":status", "201"}})));  // stream 1, no body
  ASSERT_EQ(c.records.size(), 2u);
  const Record& r = c.records[1];
  EXPECT_EQ(r.stream_id, 1u);
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/upload");
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.request_body_bytes, 13u);
  EXPECT_EQ(r.request_bytes, 9 + a.size() + 9 + 10 + 9 + 3);
  EXPECT_EQ(r.response_body_bytes, 0u);
}

TEST(Http2Tracker, ContinuationSplitAnywhere) {
  Conn c;
  c.Client(kPreface);  // the opening whole, as the router hands it on
  std::string bytes =
      "\x00\x00\x02"      // length 2
      "\x01"              // type HEADERS
      "\x01"              // flags END_STREAM (END_HEADERS not set: CONTINUATION follows)
      "\x00\x00\x00\x01"  // stream 1
      "\x82\x87"          // :method GET, :scheme https
      "\x00\x00\x0e"      // length 14
      "\x09"              // type CONTINUATION
      "\x04"              // flags END_HEADERS
      "\x00\x00\x00\x01"  // stream 1
      "\x41\x0b"          // :authority, literal indexed, 11 bytes
      "example.com"       //   the value
      "\x84"s;            // :path /
  for (char ch : bytes) c.Client(std::string_view(&ch, 1));  // one byte per call
  c.Server(kOkHeaders + kOkData);
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].host, "example.com");
  EXPECT_EQ(c.records[0].target, "/");
  EXPECT_EQ(c.records[0].request_bytes, 9u + 2 + 9 + 14);
  EXPECT_EQ(c.records[0].ts_ns, 2000u) << "the call with the HEADERS frame's first byte";
}

TEST(Http2Tracker, PaddedDataCountsDataOnly) {
  Conn c;
  c.Client(kPreface + kGetHeaders);
  c.Server(kOkHeaders);
  c.Server(
      "\x00\x00\x0a"         // length 10
      "\x00"                 // type DATA
      "\x09"                 // flags PADDED | END_STREAM
      "\x00\x00\x00\x01"     // stream 1
      "\x04"                 // pad length 4
      "hello"                // data
      "\x00\x00\x00\x00"s);  // padding
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].response_body_bytes, 5u);
  EXPECT_EQ(c.records[0].response_bytes, 9u + 4 + 9 + 10);
}

TEST(Http2Tracker, GrpcStatusFromTrailers) {
  Conn c;
  Deflater client, server;
  c.Client(kPreface + Raw(0x1, 0x4, 1,
                          client.Block({{":method", "POST"},
                                        {":scheme", "http"},
                                        {":authority", "grpc.local"},
                                        {":path", "/pkg.Svc/Call"},
                                        {"content-type", "application/grpc"}})));
  c.Client(Raw(0x0, 0x1, 1, "\x00\x00\x00\x00\x02\x08\x01"s));  // one 2-byte message
  c.Server(
      Raw(0x1, 0x4, 1, server.Block({{":status", "200"}, {"content-type", "application/grpc"}})));
  c.Server(Raw(0x1, 0x5, 1,  // trailers: HEADERS with END_STREAM
               server.Block({{"grpc-status", "14"}, {"grpc-message", "unavailable"}})));
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].status, 200);
  EXPECT_EQ(c.records[0].grpc_status, 14);
  EXPECT_EQ(c.records[0].grpc_message, "unavailable");
  EXPECT_EQ(c.records[0].request_body_bytes, 7u);
  EXPECT_EQ(c.records[0].error, "");

  // Trailers-only: one HEADERS frame carrying :status and grpc-status.
  c.Client(Raw(0x1, 0x5, 3,
               client.Block({{":method", "POST"},
                             {":scheme", "http"},
                             {":authority", "grpc.local"},
                             {":path", "/pkg.Svc/Other"}})));
  c.Server(
      "\x00\x00\x10"      // length 16
      "\x01"              // type HEADERS
      "\x05"              // flags END_STREAM | END_HEADERS
      "\x00\x00\x00\x03"  // stream 3
      "\x88"              // :status 200
      "\x00\x0b"          // literal, new name, not indexed; name 11 bytes
      "grpc-status"       //   the name
      "\x01"              //   value 1 byte
      "5"s);              //   NOT_FOUND
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[1].target, "/pkg.Svc/Other");
  EXPECT_EQ(c.records[1].grpc_status, 5);
  EXPECT_EQ(c.records[1].grpc_message, "");
}

TEST(Http2Tracker, RstStreamIsAnError) {
  Conn c;
  c.Client(kPreface + kGetHeaders);
  c.Server(kOkHeaders);
  c.Client(
      "\x00\x00\x04"         // length 4
      "\x03"                 // type RST_STREAM
      "\x00"                 // flags none
      "\x00\x00\x00\x01"     // stream 1
      "\x00\x00\x00\x08"s);  // error code CANCEL
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].error, "reset by client (CANCEL)");
  EXPECT_EQ(c.records[0].status, 200);
  EXPECT_EQ(c.records[0].latency_ns, 0u);
  EXPECT_EQ(c.stats().resets, 1u);
  EXPECT_EQ(c.stats().errors, 1u);
  c.Server(kOkData);  // the server's DATA after the reset: its stream is gone
  EXPECT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.stats().unknown_stream_frames, 1u);
}

TEST(Http2Tracker, ResponseBeforeTheRequestBodyEndsWaitsForIt) {
  // nginx's `return 201` answers a POST before its body is all sent.
  Conn c;
  c.Client(kPreface + Raw(0x1, 0x4, 1, "\x83\x87\x41\x01h\x84"s));  // POST https h /, no END_STREAM
  c.Client(Raw(0x0, 0x0, 1, "1234"));                               // DATA, 4 bytes
  c.Server(Raw(0x1, 0x5, 1, "\x88"s));  // 200, END_STREAM: the response is whole
  EXPECT_TRUE(c.records.empty()) << "the request has not ended";
  uint64_t response_end = c.ts();
  c.Client(Raw(0x0, 0x1, 1, "5678"));  // DATA, END_STREAM
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].request_body_bytes, 8u);
  EXPECT_EQ(c.records[0].latency_ns, response_end - 1000) << "to the response's end";
  EXPECT_EQ(c.records[0].error, "");

  // A whole response, then the server's RST_STREAM NO_ERROR: not an error.
  c.Client(Raw(0x1, 0x4, 3, "\x83\xbe\x84"s));
  c.Server(Raw(0x1, 0x5, 3, "\x88"s));
  c.Server(Raw(0x3, 0x0, 3, "\x00\x00\x00\x00"s));  // RST_STREAM, NO_ERROR
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[1].error, "");
  EXPECT_EQ(c.stats().resets, 0u);

  // Closed with the response whole and the request not.
  c.Client(Raw(0x1, 0x4, 5, "\x83\xbe\x84"s));
  c.Server(Raw(0x1, 0x5, 5, "\x88"s));
  c.Close();
  ASSERT_EQ(c.records.size(), 3u);
  EXPECT_EQ(c.records[2].error, "request cut short");
  EXPECT_GT(c.records[2].latency_ns, 0u);
}

TEST(Http2Tracker, GapInsideDataKeepsFramingAndHeaders) {
  Conn c;
  c.Client(kPreface + kGetHeaders);
  c.Server(kOkHeaders);
  c.Server(kOkData.substr(0, 11));  // header and "he"
  c.ServerGap(2);                   // "ll" never came
  c.Server(kOkData.substr(13));     // "o"
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].response_body_bytes, 5u) << "from the frame's length";
  EXPECT_EQ(c.records[0].error, "bytes lost");
  EXPECT_EQ(c.stats().hpack_lost, 0u);
  // The next stream still decodes: the server's table is intact.
  c.Client(Raw(0x1, 0x5, 3, "\x82\xbe\x84"s));  // GET, :authority from the table, /
  c.Server(Raw(0x1, 0x5, 3, "\x88\xbe"s));      // 200, content-length from the table
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[1].host, "example.com");
  EXPECT_EQ(c.records[1].status, 200);
  EXPECT_EQ(c.records[1].error, "");
}

TEST(Http2Tracker, GapOverAFrameHeaderStopsThatDirection) {
  Conn c;
  c.Client(kPreface + kGetHeaders);
  c.ServerGap(kOkHeaders.size() + 3);  // the HEADERS frame and part of the DATA frame's header
  EXPECT_EQ(c.stats().hpack_lost, 1u);
  c.Server(kOkData.substr(3));                  // the rest: no frame can be found in it
  c.Client(Raw(0x1, 0x5, 3, "\x82\xbe\x84"s));  // the client still decodes
  EXPECT_TRUE(c.records.empty());
  c.Close();
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[0].stream_id, 1u);
  EXPECT_EQ(c.records[0].error, "no response");
  EXPECT_EQ(c.records[1].host, "example.com");
  EXPECT_EQ(c.stats().gaps, 1u);
  EXPECT_EQ(c.stats().records, 2u);
  EXPECT_EQ(c.stats().errors, 2u);
}

TEST(Http2Tracker, GapInClientHeadersNeverEmitsWrongHeaders) {
  Conn c;
  c.Client(kPreface + kGetHeaders.substr(0, 15));  // stream 1's HEADERS, cut inside
  c.ClientGap(kGetHeaders.size() - 15);            // its end lost: framing survives
  EXPECT_EQ(c.stats().hpack_lost, 1u);
  c.Server(kOkHeaders + kOkData);
  c.Client(Raw(0x1, 0x5, 3, "\x82\xbe\x84"s));  // 62 may not be what the client means
  c.Server(Raw(0x1, 0x5, 3, "\x88"s));
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[0].host, "");
  EXPECT_EQ(c.records[0].status, 200);
  EXPECT_EQ(c.records[0].error, "headers not decoded (HPACK state lost)");
  EXPECT_EQ(c.records[1].method, "") << "not decoded rather than wrong";
  EXPECT_EQ(c.records[1].status, 200);
  EXPECT_EQ(c.records[1].error, "headers not decoded (HPACK state lost)");
}

TEST(Http2Tracker, ControlFramesMakeNoRecords) {
  Conn c;
  c.Client(kPreface + kClientSettings +
           "\x00\x00\x08"                       // length 8
           "\x06"                               // type PING
           "\x00"                               // flags none
           "\x00\x00\x00\x00"                   // stream 0
           "\x01\x02\x03\x04\x05\x06\x07\x08"s  // opaque data
           +
           "\x00\x00\x04"       // length 4
           "\x08"               // type WINDOW_UPDATE
           "\x00"               // flags none
           "\x00\x00\x00\x00"   // stream 0
           "\x00\x0f\x00\x01"s  // increment 983041
           +
           "\x00\x00\x05"             // length 5
           "\x02"                     // type PRIORITY
           "\x00"                     // flags none
           "\x00\x00\x00\x05"         // stream 5
           "\x00\x00\x00\x00\x10"s);  // dependency 0, weight 17
  c.Server(kServerSettings + Raw(0x6, 0x1, 0, "\x01\x02\x03\x04\x05\x06\x07\x08"s));  // PING ACK
  c.Close();
  EXPECT_TRUE(c.records.empty());
  EXPECT_EQ(c.stats().control_frames, 7u);
  EXPECT_EQ(c.stats().invalid, 0u);
}

TEST(Http2Tracker, OversizedFrameAndHeaderBlockAreSkippedAndCounted) {
  Limits limits;
  limits.max_frame_payload = 64;
  limits.max_header_block = 40;
  Conn c(limits);
  Deflater client;
  c.Client(kPreface + kGetHeaders);
  // A 96-byte SETTINGS frame: over max_frame_payload, skipped whole.
  c.Client(Raw(0x4, 0x0, 0, std::string(96, '\0')));
  EXPECT_EQ(c.stats().oversized_frames, 1u);
  // A block of 30 + 30 bytes: each frame fits, the block does not.
  c.Client(Raw(0x1, 0x1, 3, "\x82\x84\x40\x01x\x18" + std::string(24, 'a')));
  c.Client(Raw(0x9, 0x4, 3, std::string(30, 'b')));
  EXPECT_EQ(c.stats().oversized_header_blocks, 1u);
  EXPECT_EQ(c.stats().hpack_lost, 1u);
  c.Server(kOkHeaders + kOkData);
  c.Server(Raw(0x1, 0x5, 3, "\x8d"s));
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[0].error, "");
  EXPECT_EQ(c.records[1].error, "headers not decoded (HPACK state lost)");
  EXPECT_EQ(c.records[1].status, 404) << "the server's direction still decodes";
}

TEST(Http2Tracker, OpenStreamsAreCapped) {
  Limits limits;
  limits.max_streams = 1;
  Conn c(limits);
  c.Client(kPreface + kGetHeaders);
  c.Client(Raw(0x1, 0x5, 3, "\x82\xbe\x84"s));  // a second open stream: over the cap
  EXPECT_EQ(c.stats().stream_overflows, 1u);
  c.Server(Raw(0x1, 0x5, 3, "\x88"s));  // decoded (HPACK stays in step), not recorded
  c.Server(kOkHeaders + kOkData);
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].stream_id, 1u);
  EXPECT_EQ(c.records[0].status, 200);
}

TEST(Http2Tracker, PushPromiseKeepsHpackInStepAndIsNotRecorded) {
  Conn c;
  c.Client(kPreface + kGetHeaders);
  c.Server(
      "\x00\x00\x0b"                    // length 11
      "\x05"                            // type PUSH_PROMISE
      "\x04"                            // flags END_HEADERS
      "\x00\x00\x00\x01"                // stream 1 (the associated stream)
      "\x00\x00\x00\x02"                // promised stream 2
      "\x82"                            // :method GET
      "\x44\x04"                        // :path, literal indexed (server's dynamic 62); 4 bytes
      "/css"s);                         //   the value
  c.Server(Raw(0x1, 0x5, 2, "\x88"s));  // the pushed response on stream 2
  c.Server(kOkHeaders.substr(0, 9) +
           "\x88\x5c\x01"
           "5" +
           kOkData);
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].stream_id, 1u);
  EXPECT_EQ(c.stats().pushes, 1u);
  EXPECT_EQ(c.stats().hpack_errors, 0u);
}

TEST(Http2Tracker, ServerSideFindsTheClientFromItsOwnSettings) {
  // nginx writes its SETTINGS before reading the preface: tx starts with it.
  Conn c({}, Dir::kRx);
  c.Server(kServerSettings);
  c.Client(kPreface + kGetHeaders);
  c.Server(kOkHeaders + kOkData);
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_FALSE(c.records[0].client);
  EXPECT_EQ(c.records[0].target, "/index");
}

TEST(Http2Tracker, NoPrefaceIsNotParsed) {
  Conn c;
  c.Client("\x00\x00\x00\x01\x05\x00\x00\x00\x01"sv);  // a HEADERS frame first: no preface
  c.Close();
  EXPECT_TRUE(c.records.empty());
  EXPECT_EQ(c.stats().invalid, 1u);
}

TEST(Http2Tracker, CloseTurnsOpenStreamsIntoRecords) {
  Conn c;
  c.Client(kPreface + kGetHeaders);
  c.Server(kOkHeaders);
  c.Client(Raw(0x1, 0x5, 3, "\x82\xbe\x84"s));
  c.Close();
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[0].error, "response cut short");
  EXPECT_EQ(c.records[0].status, 200);
  EXPECT_EQ(c.records[1].error, "no response");
}

// The router: h2 by its opening, HTTP/1 otherwise, a split preface held.
class CountingSink : public streams::Sink {
 public:
  void on_data(const streams::ConnInfo&, Dir, uint64_t pos, std::string_view bytes,
               uint64_t) override {
    data += std::to_string(pos) + ":" + std::string(bytes) + "|";
  }
  void on_gap(const streams::ConnInfo&, Dir, uint64_t, uint64_t) override { ++gaps; }
  void on_close(const streams::ConnInfo&, streams::CloseReason) override { ++closes; }
  std::string data;
  int gaps = 0, closes = 0;
};

TEST(Router, SendsEachConnectionToItsProtocol) {
  CountingSink h1, h2;
  Router router({{ClassifyOpening, &h2}}, &h1);
  streams::ConnInfo a, b, g;
  a.conn_id = 1;
  b.conn_id = 2;
  g.conn_id = 3;
  router.on_data(a, Dir::kTx, 0, "PRI * HTTP/2.0\r", 1);  // a prefix: held
  EXPECT_EQ(h2.data, "");
  router.on_data(a, Dir::kTx, 15, "\n\r\nSM\r\n\r\nX", 2);
  EXPECT_EQ(h2.data, "0:" + kPreface + "X|") << "held bytes joined with the rest";
  router.on_data(b, Dir::kRx, 0, "HTTP/1.1 200 OK\r\n", 3);
  EXPECT_EQ(h1.data, "0:HTTP/1.1 200 OK\r\n|");
  router.on_gap(g, Dir::kTx, 0, 10);  // a connection's start missed: HTTP/1
  EXPECT_EQ(h1.gaps, 1);
  router.on_close(a, streams::CloseReason::kClosed);
  router.on_close(b, streams::CloseReason::kClosed);
  EXPECT_EQ(h2.closes, 1);
  EXPECT_EQ(h1.closes, 1);
  EXPECT_EQ(router.connections_routed(0), 1u);
}

TEST(Router, AsksEachRouteAndGivesUpWaitingAtMaxHeld) {
  CountingSink fallback, never, starts_with_q;
  // The second route wants a 'Q' first and waits for one.
  Router router({{[](std::string_view) { return protocols::Opening::kNo; }, &never},
                 {[](std::string_view b) {
                    return b.empty() || b[0] != 'Q' ? protocols::Opening::kNeedMore
                                                    : protocols::Opening::kClient;
                  },
                  &starts_with_q}},
                &fallback);
  streams::ConnInfo a, b;
  a.conn_id = 1;
  b.conn_id = 2;
  router.on_data(a, Dir::kTx, 0, "sent first", 1);  // held: the route needs more
  router.on_data(a, Dir::kRx, 0, "Q?", 2);
  EXPECT_EQ(starts_with_q.data, "0:sent first|0:Q?|") << "the held direction goes first";
  EXPECT_EQ(router.connections_routed(1), 1u);
  // Only tx ever comes: held up to kMaxHeld bytes, then the fallback's.
  router.on_data(b, Dir::kTx, 0, std::string(Router::kMaxHeld - 1, 'x'), 3);
  EXPECT_EQ(fallback.data, "");
  router.on_data(b, Dir::kTx, Router::kMaxHeld - 1, "yz", 4);
  EXPECT_EQ(fallback.data, "0:" + std::string(Router::kMaxHeld - 1, 'x') + "yz|");
  EXPECT_EQ(never.data, "");
}

}  // namespace
}  // namespace tlstap::protocols::http2
