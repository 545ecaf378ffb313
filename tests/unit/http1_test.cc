// HTTP/1 parsing, pairing and records on byte literals, one comment per
// field. Requests and responses are fed as the reassembler hands them on:
// whole, split anywhere, or with bytes lost.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "protocols/http1/parse.h"
#include "protocols/http1/stitch.h"
#include "protocols/http1/tracker.h"
#include "streams/reassembler.h"

namespace tlstap::protocols::http1 {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;
using namespace std::literals;

// What one ParseFrame call returned.
struct Step {
  ParseState state;
  Message msg;
};

// Feeds each chunk (each a call's bytes) until it is consumed.
std::vector<Step> Feed(Parser* parser, std::vector<std::string_view> chunks) {
  std::vector<Step> steps;
  for (std::string_view chunk : chunks) {
    while (!chunk.empty()) {
      Step step;
      step.state = parser->ParseFrame(&chunk, &step.msg);
      bool done =
          step.state == ParseState::kNeedsMoreData || step.state == ParseState::kEndOfStream;
      steps.push_back(std::move(step));
      if (done) break;
    }
  }
  return steps;
}

std::vector<ParseState> States(const std::vector<Step>& steps) {
  std::vector<ParseState> states;
  for (const Step& s : steps) states.push_back(s.state);
  return states;
}

constexpr auto kSuccess = ParseState::kSuccess;
constexpr auto kNeedsMoreData = ParseState::kNeedsMoreData;
constexpr auto kIgnored = ParseState::kIgnored;
constexpr auto kInvalid = ParseState::kInvalid;
constexpr auto kEndOfStream = ParseState::kEndOfStream;

class Http1ParseTest : public ::testing::Test {
 protected:
  ConnState conn_;
  Parser requests_{MessageType::kRequest, &conn_};
  Parser responses_{MessageType::kResponse, &conn_};
};

TEST_F(Http1ParseTest, RequestWithContentLength) {
  constexpr std::string_view kRequest =
      "POST /api/v1/items?id=7 HTTP/1.1\r\n"  // method, target, version
      "Host: example.com\r\n"                 // header
      "Content-Length: 5\r\n"                 // body length
      "\r\n"                                  // end of headers
      "hello";                                // body
  std::string_view buf = kRequest;
  Message msg;
  ASSERT_EQ(requests_.ParseFrame(&buf, &msg), kSuccess);
  EXPECT_TRUE(buf.empty());
  EXPECT_EQ(msg.method, "POST");
  EXPECT_EQ(msg.target, "/api/v1/items?id=7");
  EXPECT_EQ(msg.version_minor, 1);
  EXPECT_THAT(msg.headers, ElementsAre(Pair("Host", "example.com"), Pair("Content-Length", "5")));
  EXPECT_EQ(msg.header("content-length"), "5");
  EXPECT_EQ(msg.body, "hello");
  EXPECT_EQ(msg.body_size, 5u);
  EXPECT_EQ(msg.wire_size, kRequest.size());
}

TEST_F(Http1ParseTest, NeedsMoreDataConsumesEverythingAndGoesOn) {
  constexpr std::string_view kHead =
      "PUT /f HTTP/1.1\r\n"                    // method, target, version
      "Content-Length: 10\r\n"                 // body length
      "\r\n"                                   // end of headers
      "01234";                                 // first half of the body
  constexpr std::string_view kRest = "56789";  // second half
  std::string_view buf = kHead;
  Message msg;
  EXPECT_EQ(requests_.ParseFrame(&buf, &msg), kNeedsMoreData);
  EXPECT_TRUE(buf.empty());
  buf = kRest;
  ASSERT_EQ(requests_.ParseFrame(&buf, &msg), kSuccess);
  EXPECT_EQ(msg.body, "0123456789");
  EXPECT_EQ(msg.wire_size, kHead.size() + kRest.size());
}

TEST_F(Http1ParseTest, KeepAliveRequestsAndResponsesInTurn) {
  constexpr std::string_view kRequest1 =
      "GET /a HTTP/1.1\r\n"  // method, target, version
      "Host: h\r\n"          // header
      "\r\n";                // end of headers, no body
  constexpr std::string_view kResponse1 =
      "HTTP/1.1 200 OK\r\n"    // version, status, reason
      "Content-Length: 2\r\n"  // body length
      "\r\n"                   // end of headers
      "aa";                    // body
  constexpr std::string_view kRequest2 =
      "GET /b HTTP/1.1\r\n"  // the same connection, next request
      "Host: h\r\n"          // header
      "\r\n";                // end of headers
  constexpr std::string_view kResponse2 =
      "HTTP/1.1 404 Not Found\r\n"  // version, status, reason
      "Content-Length: 0\r\n"       // empty body
      "\r\n";                       // end of headers
  std::deque<Message> reqs, resps;
  for (auto [req, resp] : {std::pair{kRequest1, kResponse1}, std::pair{kRequest2, kResponse2}}) {
    auto r = Feed(&requests_, {req});
    ASSERT_THAT(States(r), ElementsAre(kSuccess));
    reqs.push_back(r[0].msg);
    auto s = Feed(&responses_, {resp});
    ASSERT_THAT(States(s), ElementsAre(kSuccess));
    resps.push_back(s[0].msg);
  }
  StitchResult result = Stitch(&reqs, &resps);
  ASSERT_EQ(result.records.size(), 2u);
  EXPECT_EQ(result.error_count, 0);
  EXPECT_EQ(result.records[0].target, "/a");
  EXPECT_EQ(result.records[0].status, 200);
  EXPECT_EQ(result.records[0].response_body_bytes, 2u);
  EXPECT_EQ(result.records[1].target, "/b");
  EXPECT_EQ(result.records[1].status, 404);
}

TEST_F(Http1ParseTest, PipelinedRequestsInOneCallPairInOrder) {
  constexpr std::string_view kRequests =
      "GET /1 HTTP/1.1\r\n"    // first request line
      "\r\n"                   // end of headers
      "GET /2 HTTP/1.1\r\n"    // second, before any response
      "\r\n"                   // end of headers
      "POST /3 HTTP/1.1\r\n"   // third
      "Content-Length: 3\r\n"  // body length
      "\r\n"                   // end of headers
      "abc";                   // body
  constexpr std::string_view kResponses =
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1"      // answers /1, body "1"
      "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"  // answers /2
      "HTTP/1.1 500 Oops\r\nContent-Length: 1\r\n\r\n3";   // answers /3
  auto r = Feed(&requests_, {kRequests});
  ASSERT_THAT(States(r), ElementsAre(kSuccess, kSuccess, kSuccess));
  auto s = Feed(&responses_, {kResponses});
  ASSERT_THAT(States(s), ElementsAre(kSuccess, kSuccess, kSuccess));
  std::deque<Message> reqs{r[0].msg, r[1].msg, r[2].msg}, resps{s[0].msg, s[1].msg, s[2].msg};
  StitchResult result = Stitch(&reqs, &resps);
  ASSERT_EQ(result.records.size(), 3u);
  EXPECT_EQ(result.records[0].target, "/1");
  EXPECT_EQ(result.records[0].status, 200);
  EXPECT_EQ(result.records[1].target, "/2");
  EXPECT_EQ(result.records[1].status, 201);
  EXPECT_EQ(result.records[2].method, "POST");
  EXPECT_EQ(result.records[2].status, 500);
  EXPECT_EQ(result.records[2].request_body_bytes, 3u);
}

constexpr std::string_view kChunkedWithTrailers =
    "HTTP/1.1 200 OK\r\n"             // version, status, reason
    "Transfer-Encoding: chunked\r\n"  // body in chunks
    "Trailer: Grpc-Status\r\n"        // announces a trailer
    "\r\n"                            // end of headers
    "5\r\n"                           // chunk size 5
    "hello\r\n"                       // chunk data
    "7;ext=1\r\n"                     // chunk size 7, with an extension
    ", world\r\n"                     // chunk data
    "0\r\n"                           // last chunk
    "Grpc-Status: 0\r\n"              // trailer
    "\r\n";                           // end of trailers

TEST_F(Http1ParseTest, ChunkedBodyWithTrailers) {
  auto s = Feed(&responses_, {kChunkedWithTrailers});
  ASSERT_THAT(States(s), ElementsAre(kSuccess));
  const Message& msg = s[0].msg;
  EXPECT_TRUE(msg.chunked);
  EXPECT_EQ(msg.body, "hello, world");
  EXPECT_EQ(msg.body_size, 12u);
  EXPECT_EQ(msg.wire_size, kChunkedWithTrailers.size());
  EXPECT_THAT(msg.trailers, ElementsAre(Pair("Grpc-Status", "0")));
  EXPECT_EQ(msg.header("trailer"), "Grpc-Status");
}

TEST_F(Http1ParseTest, ChunkedBodySplitAtEveryByteParsesTheSame) {
  for (size_t cut = 1; cut < kChunkedWithTrailers.size(); ++cut) {
    ConnState conn;
    Parser parser(MessageType::kResponse, &conn);
    auto s = Feed(&parser, {kChunkedWithTrailers.substr(0, cut), kChunkedWithTrailers.substr(cut)});
    ASSERT_EQ(s.back().state, kSuccess) << "cut at " << cut;
    EXPECT_EQ(s.back().msg.body, "hello, world") << "cut at " << cut;
    EXPECT_THAT(s.back().msg.trailers, ElementsAre(Pair("Grpc-Status", "0"))) << "cut at " << cut;
  }
}

TEST_F(Http1ParseTest, ExpectContinueInterimResponseIsNotTheResponse) {
  constexpr std::string_view kRequestHead =
      "PUT /upload HTTP/1.1\r\n"  // method, target, version
      "Content-Length: 4\r\n"     // body length
      "Expect: 100-continue\r\n"  // the client waits for 100 before the body
      "\r\n";                     // end of headers
  constexpr std::string_view kContinue =
      "HTTP/1.1 100 Continue\r\n"                    // interim response
      "\r\n";                                        // end of headers: never a body
  constexpr std::string_view kRequestBody = "data";  // sent after the 100
  constexpr std::string_view kFinal =
      "HTTP/1.1 201 Created\r\n"  // the final response
      "Content-Length: 0\r\n"     // empty body
      "\r\n";                     // end of headers
  requests_.set_timestamp(1000);
  EXPECT_THAT(States(Feed(&requests_, {kRequestHead})), ElementsAre(kNeedsMoreData));
  responses_.set_timestamp(2000);
  auto interim = Feed(&responses_, {kContinue});
  ASSERT_THAT(States(interim), ElementsAre(kIgnored));
  EXPECT_EQ(interim[0].msg.status, 100);
  requests_.set_timestamp(3000);
  auto req = Feed(&requests_, {kRequestBody});
  ASSERT_THAT(States(req), ElementsAre(kSuccess));
  EXPECT_EQ(req[0].msg.first_ts_ns, 1000u);
  EXPECT_EQ(req[0].msg.last_ts_ns, 3000u);
  responses_.set_timestamp(4000);
  auto resp = Feed(&responses_, {kFinal});
  ASSERT_THAT(States(resp), ElementsAre(kSuccess));
  std::deque<Message> reqs{req[0].msg}, resps{resp[0].msg};
  StitchResult result = Stitch(&reqs, &resps);
  ASSERT_EQ(result.records.size(), 1u);
  EXPECT_EQ(result.records[0].status, 201);
  EXPECT_EQ(result.records[0].latency_ns, 3000u);  // final response's last byte - request's first
  EXPECT_EQ(responses_.interim_responses(), 1u);
}

TEST_F(Http1ParseTest, UpgradeStopsParsingAfter101) {
  constexpr std::string_view kRequest =
      "GET /chat HTTP/1.1\r\n"               // method, target, version
      "Upgrade: websocket\r\n"               // the protocol asked for
      "Connection: Upgrade\r\n"              // the request to switch
      "Sec-WebSocket-Key: x3JJHMbDL1E=\r\n"  // websocket's own header
      "\r\n";                                // end of headers
  constexpr std::string_view kSwitching =
      "HTTP/1.1 101 Switching Protocols\r\n"  // status 101
      "Upgrade: websocket\r\n"                // the protocol now spoken
      "Connection: Upgrade\r\n"               // switching
      "\r\n"                                  // end of headers
      "\x81\x05hello";                        // a websocket frame in the same call
  constexpr std::string_view kClientFrame = "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
  auto req = Feed(&requests_, {kRequest});
  ASSERT_THAT(States(req), ElementsAre(kSuccess));
  EXPECT_TRUE(req[0].msg.upgrade);
  auto resp = Feed(&responses_, {kSwitching});
  ASSERT_THAT(States(resp), ElementsAre(kSuccess, kEndOfStream));
  EXPECT_EQ(resp[0].msg.status, 101);
  EXPECT_TRUE(resp[0].msg.upgrade);
  EXPECT_EQ(responses_.ignored_bytes(), 7u);  // the frame after the 101
  EXPECT_THAT(States(Feed(&requests_, {kClientFrame})), ElementsAre(kEndOfStream));
  EXPECT_EQ(requests_.ignored_bytes(), kClientFrame.size());
  EXPECT_THAT(States(Feed(&responses_, {"HTTP/1.1 200 OK\r\n\r\n"})), ElementsAre(kEndOfStream));
}

TEST_F(Http1ParseTest, UpgradeRefusedKeepsParsing) {
  constexpr std::string_view kRequest =
      "GET / HTTP/1.1\r\n"                       // method, target, version
      "Upgrade: h2c\r\n"                         // the protocol asked for
      "Connection: Upgrade, HTTP2-Settings\r\n"  // the request to switch
      "\r\n";                                    // end of headers
  constexpr std::string_view kPlain =
      "HTTP/1.1 200 OK\r\n"    // the server stays on HTTP/1.1
      "Content-Length: 0\r\n"  // empty body
      "\r\n";                  // end of headers
  ASSERT_THAT(States(Feed(&requests_, {kRequest})), ElementsAre(kSuccess));
  ASSERT_THAT(States(Feed(&responses_, {kPlain})), ElementsAre(kSuccess));
  EXPECT_FALSE(conn_.upgraded);
  EXPECT_THAT(States(Feed(&requests_, {"GET /next HTTP/1.1\r\n\r\n"})), ElementsAre(kSuccess));
}

TEST_F(Http1ParseTest, HeadResponseHasNoBodyWhateverItsHeadersSay) {
  constexpr std::string_view kRequests =
      "HEAD /big HTTP/1.1\r\n"   // method HEAD
      "\r\n"                     // end of headers
      "GET /small HTTP/1.1\r\n"  // pipelined behind it
      "\r\n";                    // end of headers
  constexpr std::string_view kResponses =
      "HTTP/1.1 200 OK\r\n"             // answers HEAD
      "Content-Length: 1234\r\n"        // the length a GET would get; no body follows
      "\r\n"                            // end of headers
      "HTTP/1.1 200 OK\r\n"             // answers GET
      "Transfer-Encoding: chunked\r\n"  // body in chunks
      "\r\n"                            // end of headers
      "2\r\nok\r\n0\r\n\r\n";           // one chunk, last chunk, no trailers
  ASSERT_THAT(States(Feed(&requests_, {kRequests})), ElementsAre(kSuccess, kSuccess));
  auto s = Feed(&responses_, {kResponses});
  ASSERT_THAT(States(s), ElementsAre(kSuccess, kSuccess));
  EXPECT_EQ(s[0].msg.body_size, 0u);
  EXPECT_EQ(s[0].msg.header("Content-Length"), "1234");
  EXPECT_EQ(s[1].msg.body, "ok");
}

TEST_F(Http1ParseTest, Responses204And304HaveNoBody) {
  constexpr std::string_view kResponses =
      "HTTP/1.1 204 No Content\r\n"    // status 204: never a body
      "Server: x\r\n"                  // header
      "\r\n"                           // end of headers
      "HTTP/1.1 304 Not Modified\r\n"  // status 304: never a body
      "ETag: \"abc\"\r\n"              // header
      "Content-Length: 99\r\n"         // the length of the cached body, not sent
      "\r\n"                           // end of headers
      "HTTP/1.1 200 OK\r\n"            // an ordinary response after them
      "Content-Length: 1\r\n"          // body length
      "\r\n"                           // end of headers
      "!";                             // body
  auto s = Feed(&responses_, {kResponses});
  ASSERT_THAT(States(s), ElementsAre(kSuccess, kSuccess, kSuccess));
  EXPECT_EQ(s[0].msg.status, 204);
  EXPECT_EQ(s[1].msg.status, 304);
  EXPECT_EQ(s[1].msg.body_size, 0u);
  EXPECT_EQ(s[2].msg.body, "!");
}

TEST_F(Http1ParseTest, ResponseDelimitedByCloseEndsAtClose) {
  constexpr std::string_view kResponse =
      "HTTP/1.0 200 OK\r\n"           // HTTP/1.0, no length: the body runs to the close
      "Content-Type: text/plain\r\n"  // header
      "\r\n"                          // end of headers
      "first part, ";                 // body so far
  constexpr std::string_view kMore = "second part";  // more body
  auto s = Feed(&responses_, {kResponse, kMore});
  ASSERT_THAT(States(s), ElementsAre(kNeedsMoreData, kNeedsMoreData));
  std::optional<Message> last = responses_.on_close();
  ASSERT_TRUE(last);
  EXPECT_FALSE(last->truncated);
  EXPECT_EQ(last->version_minor, 0);
  EXPECT_EQ(last->body, "first part, second part");
}

TEST_F(Http1ParseTest, CloseInsideALengthDelimitedBodyTruncates) {
  constexpr std::string_view kResponse =
      "HTTP/1.1 200 OK\r\n"     // version, status, reason
      "Content-Length: 10\r\n"  // body length
      "\r\n"                    // end of headers
      "12345";                  // half the body, then the close
  Feed(&responses_, {kResponse});
  std::optional<Message> last = responses_.on_close();
  ASSERT_TRUE(last);
  EXPECT_TRUE(last->truncated);
  EXPECT_EQ(last->status, 200);
}

// A length that fits 64 bits is taken as sent, however absurd: the
// message is cut short by the connection's end, not by lost bytes. One
// that does not fit is not HTTP/1 (http-parser refuses it), never a wrap.
TEST_F(Http1ParseTest, AbsurdLengthsEndAtTheCloseOrAreInvalid) {
  constexpr std::string_view kLength =
      "POST /up HTTP/1.1\r\n"                    // method, target, version
      "Content-Length: 9223372036854775808\r\n"  // 2^63 bytes of body
      "\r\n"                                     // end of headers
      "abc";                                     // all that came before the close
  ASSERT_THAT(States(Feed(&requests_, {kLength})), ElementsAre(kNeedsMoreData));
  std::optional<Message> cut = requests_.on_close();
  ASSERT_TRUE(cut);
  EXPECT_TRUE(cut->truncated);
  EXPECT_EQ(cut->cut_by, Cut::kConnectionEnd);
  EXPECT_EQ(cut->body_size, 3u);
  EXPECT_EQ(cut->wire_size, kLength.size());

  constexpr std::string_view kChunk =
      "HTTP/1.1 200 OK\r\n"             // version, status, reason
      "Transfer-Encoding: chunked\r\n"  // chunked body
      "\r\n"                            // end of headers
      "8000000000000000\r\n"            // a chunk of 2^63 bytes
      "xyz";                            // its first bytes, then the close
  ASSERT_THAT(States(Feed(&responses_, {kChunk})), ElementsAre(kNeedsMoreData));
  cut = responses_.on_close();
  ASSERT_TRUE(cut);
  EXPECT_EQ(cut->cut_by, Cut::kConnectionEnd);
  EXPECT_EQ(cut->body_size, 3u);

  ConnState conn;
  Parser requests(MessageType::kRequest, &conn), responses(MessageType::kResponse, &conn);
  EXPECT_THAT(States(Feed(&requests, {"POST / HTTP/1.1\r\n"                       // request line
                                      "Content-Length: 18446744073709551616\r\n"  // 2^64
                                      "\r\n"})),
              ::testing::Contains(kInvalid));
  EXPECT_THAT(States(Feed(&responses, {"HTTP/1.1 200 OK\r\n"             // status line
                                       "Transfer-Encoding: chunked\r\n"  // chunked body
                                       "\r\n"                            // end of headers
                                       "10000000000000000\r\n"})),       // a chunk of 2^64 bytes
              ::testing::Contains(kInvalid));
  EXPECT_EQ(requests.invalid() + responses.invalid(), 2u);
}

// RFC 9110: a method is any token. Those http-parser does not know parse
// like any other, in one call or split inside the token; the record's
// method is the token as sent. Not a token, or longer than 256 bytes: invalid.
TEST_F(Http1ParseTest, AnyTokenIsAMethod) {
  constexpr std::string_view kRequests =
      "FOOBARBAZ /x HTTP/1.1\r\n"  // a method no registry has
      "Content-Length: 3\r\n"      // body length
      "\r\n"                       // end of headers
      "abc"                        // body
      "M-SEARCH * HTTP/1.1\r\n"    // one http-parser knows (UPnP)
      "\r\n"                       // end of headers
      "get /lower HTTP/1.1\r\n"    // methods are case-sensitive: not GET
      "\r\n";                      // end of headers
  for (size_t split : {size_t{0}, size_t{4}, size_t{9}, size_t{10}}) {
    SCOPED_TRACE("split at " + std::to_string(split));
    ConnState conn;
    Parser requests(MessageType::kRequest, &conn);
    auto r = Feed(&requests, {kRequests.substr(0, split), kRequests.substr(split)});
    std::vector<Message> got;
    for (Step& step : r)
      if (step.state == kSuccess) got.push_back(step.msg);
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0].method, "FOOBARBAZ");
    EXPECT_EQ(got[0].target, "/x");
    EXPECT_EQ(got[0].body, "abc");
    EXPECT_EQ(got[0].wire_size, kRequests.find("M-SEARCH"));
    EXPECT_EQ(got[1].method, "M-SEARCH");
    EXPECT_EQ(got[1].target, "*");
    EXPECT_EQ(got[2].method, "get");
    EXPECT_EQ(got[0].wire_size + got[1].wire_size + got[2].wire_size, kRequests.size());
    EXPECT_EQ(requests.invalid(), 0u);
  }
  ConnState conn;
  Parser requests(MessageType::kRequest, &conn);
  EXPECT_EQ(Feed(&requests, {"FOO(BAR) / HTTP/1.1\r\n\r\n"}).front().state, kInvalid);
  Parser long_method(MessageType::kRequest, &conn);
  EXPECT_EQ(Feed(&long_method, {std::string(257, 'X') + " / HTTP/1.1\r\n\r\n"}).front().state,
            kInvalid);
}

TEST_F(Http1ParseTest, GarbageThenValidRequest) {
  constexpr std::string_view kBytes =
      "\x16\x03\x01\x02\x00 not http\r\n"  // garbage (a TLS record header, then text)
      "more garbage GET / HTTP/1.1\r\n"    // a method, but not at a line start
      "GET /real HTTP/1.1\r\n"             // the first real request line
      "Host: h\r\n"                        // header
      "\r\n"sv;                            // end of headers
  auto r = Feed(&requests_, {kBytes});
  ASSERT_THAT(States(r), ElementsAre(kInvalid, kIgnored, kSuccess));
  EXPECT_EQ(r[2].msg.target, "/real");
  EXPECT_EQ(requests_.invalid(), 1u);
  EXPECT_EQ(requests_.skipped_bytes(), kBytes.find("GET /real") - 1);  // less the bad byte
}

TEST_F(Http1ParseTest, GapMidBodyThenResync) {
  constexpr std::string_view kBeforeGap =
      "HTTP/1.1 200 OK\r\n"      // version, status, reason
      "Content-Length: 100\r\n"  // body length
      "\r\n"                     // end of headers
      "0123456789";              // 10 of its 100 body bytes; the rest is lost
  constexpr std::string_view kAfterGap =
      "tail of the lost body\r\n"    // bytes of the same body after the gap
      "HTTP/1.1 204 No Content\r\n"  // the next response: parsing resumes here
      "\r\n";                        // end of headers
  ASSERT_THAT(States(Feed(&responses_, {kBeforeGap})), ElementsAre(kNeedsMoreData));
  std::optional<Message> cut = responses_.on_gap();
  ASSERT_TRUE(cut);
  EXPECT_TRUE(cut->truncated);
  EXPECT_EQ(cut->status, 200);
  auto s = Feed(&responses_, {kAfterGap});
  ASSERT_THAT(States(s), ElementsAre(kIgnored, kSuccess));
  EXPECT_EQ(s[1].msg.status, 204);
  EXPECT_TRUE(s[1].msg.after_gap);
  EXPECT_EQ(responses_.skipped_bytes(), kAfterGap.find("HTTP/1.1"));
}

TEST_F(Http1ParseTest, ResyncFindsAStartSplitAcrossCalls) {
  ASSERT_THAT(States(Feed(&requests_, {"GET / HTTP/1.1\r\nContent-Length: 50\r\n\r\nxx"})),
              ElementsAre(kNeedsMoreData));
  requests_.on_gap();
  auto r = Feed(&requests_, {"lost body end\r\nPO",       // skipped, then the start of "POST"
                             "ST /p HTTP/1.1\r\n\r\n"});  // the rest of the request line
  ASSERT_EQ(r.back().state, kSuccess);
  EXPECT_EQ(r.back().msg.method, "POST");
  EXPECT_EQ(r.back().msg.target, "/p");
}

TEST_F(Http1ParseTest, OversizedHeadersAreInvalidNotHeld) {
  std::string huge = "GET / HTTP/1.1\r\nX-Big: " + std::string(200 * 1024, 'a') + "\r\n\r\n";
  auto r = Feed(&requests_, {huge});
  EXPECT_EQ(r.front().state, kInvalid);
}

TEST(Http1FindFrameBoundary, RequestsAndResponses) {
  EXPECT_EQ(FindFrameBoundary(MessageType::kRequest, "GET / HTTP/1.1\r\n", 0), 0u);
  EXPECT_EQ(FindFrameBoundary(MessageType::kRequest, "xx\r\nDELETE /a HTTP/1.0\r\n", 0), 4u);
  // Not at a line start, or not HTTP/1 at the end of the line.
  EXPECT_EQ(FindFrameBoundary(MessageType::kRequest, "xGET / HTTP/1.1\r\n", 0), std::string::npos);
  EXPECT_EQ(FindFrameBoundary(MessageType::kRequest, "GET / HTTP/2\r\n", 0), std::string::npos);
  // The line is not complete yet: a start as far as can be told.
  EXPECT_EQ(FindFrameBoundary(MessageType::kRequest, "\nPOST /upl", 0), 1u);
  EXPECT_EQ(FindFrameBoundary(MessageType::kRequest, "GET / HTTP/1.1\r\n", 1), std::string::npos);
  EXPECT_EQ(FindFrameBoundary(MessageType::kResponse, "abc\nHTTP/1.1 503 x", 0), 4u);
  EXPECT_EQ(FindFrameBoundary(MessageType::kResponse, "HTTP/1.1 2", 0), std::string::npos);
  EXPECT_EQ(FindFrameBoundary(MessageType::kResponse, "GET / HTTP/1.1\r\n", 0), std::string::npos);
  // Any token is a method once the line is whole; not before.
  EXPECT_EQ(FindFrameBoundary(MessageType::kRequest, "x\nFOOBARBAZ /x HTTP/1.1\r\n", 0), 2u);
  EXPECT_EQ(FindFrameBoundary(MessageType::kRequest, "FOOBARBAZ /x HT", 0), std::string::npos);
  EXPECT_EQ(FindFrameBoundary(MessageType::kRequest, "FOO BAR /x HTTP/1.1\r\n", 0),
            std::string::npos);  // a target has no space
  EXPECT_EQ(FindFrameBoundary(MessageType::kRequest, "PRI * HTTP/2.0\r\n", 0), std::string::npos);
}

Message At(MessageType type, uint64_t first_ts, uint64_t last_ts, bool after_gap = false) {
  Message m;
  m.type = type;
  m.first_ts_ns = first_ts;
  m.last_ts_ns = last_ts;
  m.after_gap = after_gap;
  if (type == MessageType::kRequest) {
    m.method = "GET";
    m.target = "/" + std::to_string(first_ts);
  } else {
    m.status = static_cast<int>(first_ts);
  }
  return m;
}

TEST(Http1Stitch, ResponseBeforeAnyWaitingRequestHadNoCapturedRequest) {
  std::deque<Message> reqs{At(MessageType::kRequest, 50, 50)};
  std::deque<Message> resps{At(MessageType::kResponse, 40, 45), At(MessageType::kResponse, 60, 70)};
  StitchResult result = Stitch(&reqs, &resps);
  ASSERT_EQ(result.records.size(), 2u);
  EXPECT_EQ(result.records[0].error, "request not captured");
  EXPECT_EQ(result.records[0].status, 40);
  EXPECT_EQ(result.records[1].target, "/50");
  EXPECT_EQ(result.records[1].latency_ns, 20u);
  EXPECT_EQ(result.error_count, 1);
}

TEST(Http1Stitch, AfterLostResponseBytesTheLatestEarlierRequestIsAnswered) {
  std::deque<Message> reqs{At(MessageType::kRequest, 10, 10), At(MessageType::kRequest, 20, 20),
                           At(MessageType::kRequest, 30, 30)};
  // The responses to /10 and /20 were in the lost bytes; this one began at 35.
  std::deque<Message> resps{At(MessageType::kResponse, 35, 36, /*after_gap=*/true)};
  StitchResult result = Stitch(&reqs, &resps);
  ASSERT_EQ(result.records.size(), 3u);
  EXPECT_EQ(result.records[0].error, "response lost");
  EXPECT_EQ(result.records[1].error, "response lost");
  EXPECT_EQ(result.records[2].target, "/30");
  EXPECT_EQ(result.records[2].error, "");
  EXPECT_TRUE(reqs.empty());
}

TEST(Http1Stitch, WaitingMessagesStayUntilTheConnectionCloses) {
  std::deque<Message> reqs{At(MessageType::kRequest, 10, 10)};
  std::deque<Message> resps;
  EXPECT_TRUE(Stitch(&reqs, &resps).records.empty());
  EXPECT_EQ(reqs.size(), 1u);
  StitchResult result = Stitch(&reqs, &resps, /*connection_closed=*/true);
  ASSERT_EQ(result.records.size(), 1u);
  EXPECT_EQ(result.records[0].error, "no response");
}

// The whole user-space path: events -> reassembly -> parser -> records.
class Http1TrackerTest : public ::testing::Test {
 protected:
  std::vector<Record> records_;
  Tracker tracker_{[this](Record&& r) { records_.push_back(std::move(r)); }};
  streams::Reassembler reassembler_{streams::Limits{}, &tracker_};

  void Add(capture::Dir dir, uint64_t pos, std::string_view data, uint64_t ts,
           std::vector<std::pair<uint64_t, uint64_t>> lost = {}) {
    capture::DataEvent e;
    e.conn_id = 42;
    e.pid = 1234;
    e.fd = 9;
    e.comm = "nginx";
    e.lib = capture::Lib::kOpenSsl;
    e.remote.family = 2;
    e.remote.port = 51000;
    e.dir = dir;
    e.stream_pos = pos;
    e.ts_ns = ts;
    e.data = std::string(data);
    e.len = data.size();
    for (auto [off, n] : lost) e.len += n;
    e.lost = std::move(lost);
    reassembler_.add(e);
  }
};

TEST_F(Http1TrackerTest, ServerSideRecordWithAttributionAndLatency) {
  constexpr std::string_view kRequest =
      "GET /index.html HTTP/1.1\r\n"  // method, target, version
      "Host: example.com\r\n"         // header
      "\r\n";                         // end of headers
  constexpr std::string_view kResponse =
      "HTTP/1.1 200 OK\r\n"                    // version, status, reason
      "Content-Length: 3\r\n"                  // body length
      "\r\n"                                   // end of headers
      "abc";                                   // body
  Add(capture::Dir::kRx, 0, kRequest, 1'000);  // a server receives the request
  Add(capture::Dir::kTx, 0, kResponse.substr(0, 10), 5'000);
  Add(capture::Dir::kTx, 10, kResponse.substr(10), 9'000);
  ASSERT_EQ(records_.size(), 1u);
  const Record& r = records_[0];
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.target, "/index.html");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.request_bytes, kRequest.size());
  EXPECT_EQ(r.response_bytes, kResponse.size());
  EXPECT_EQ(r.response_body_bytes, 3u);
  EXPECT_EQ(r.ts_ns, 1'000u);
  EXPECT_EQ(r.latency_ns, 8'000u);
  EXPECT_FALSE(r.client);
  EXPECT_EQ(r.conn.pid, 1234);
  EXPECT_EQ(r.conn.fd, 9);
  EXPECT_EQ(r.conn.comm, "nginx");
  EXPECT_EQ(r.conn.remote.port, 51000);
  EXPECT_EQ(r.error, "");
}

TEST_F(Http1TrackerTest, GapMidBodyThenResyncKeepsPairing) {
  constexpr std::string_view kRequests =
      "GET /a HTTP/1.1\r\n\r\n"   // first request
      "GET /b HTTP/1.1\r\n\r\n";  // second, pipelined
  constexpr std::string_view kResponseA =
      "HTTP/1.1 200 OK\r\n"     // answers /a
      "Content-Length: 20\r\n"  // body length
      "\r\n"                    // end of headers
      "0123456789"              // first 10 body bytes
      "ABCDEFGHIJ";             // last 10: lost in the kernel (ring buffer full)
  constexpr std::string_view kResponseB =
      "HTTP/1.1 202 Accepted\r\n"  // answers /b
      "Content-Length: 0\r\n"      // empty body
      "\r\n";                      // end of headers
  Add(capture::Dir::kTx, 0, kRequests, 100);
  size_t lost_at = kResponseA.size() - 10;
  Add(capture::Dir::kRx, 0, kResponseA.substr(0, lost_at), 200, {{lost_at, 10}});
  Add(capture::Dir::kRx, kResponseA.size(), kResponseB, 300);
  ASSERT_EQ(records_.size(), 2u);
  EXPECT_EQ(records_[0].target, "/a");
  EXPECT_EQ(records_[0].status, 200);
  EXPECT_EQ(records_[0].error, "response cut short by lost bytes");
  EXPECT_EQ(records_[1].target, "/b");
  EXPECT_EQ(records_[1].status, 202);
  EXPECT_EQ(records_[1].error, "");
  EXPECT_TRUE(records_[1].client);
  EXPECT_EQ(tracker_.stats().gaps, 1u);
}

TEST_F(Http1TrackerTest, CloseFlushesCloseDelimitedResponseAndUnanswered) {
  Add(capture::Dir::kTx, 0, "GET /stream HTTP/1.1\r\n\r\n", 10);
  Add(capture::Dir::kRx, 0, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbody until close", 20);
  EXPECT_TRUE(records_.empty());
  reassembler_.close(42);
  ASSERT_EQ(records_.size(), 1u);
  EXPECT_EQ(records_[0].status, 200);
  EXPECT_EQ(records_[0].response_body_bytes, 16u);
  EXPECT_EQ(records_[0].error, "");
  EXPECT_EQ(tracker_.connections(), 0u);
}

// A connection whose first request has a method no registry has is
// decided and paired like any other.
TEST_F(Http1TrackerTest, UnknownMethodOpensAConnectionAndMakesARecord) {
  constexpr std::string_view kRequest =
      "FOOBARBAZ /x HTTP/1.1\r\n"  // method, target, version
      "Host: h\r\n"                // header
      "\r\n";                      // end of headers
  constexpr std::string_view kResponse =
      "HTTP/1.1 405 Not Allowed\r\n"  // version, status, reason
      "Content-Length: 0\r\n"         // no body
      "\r\n";                         // end of headers
  Add(capture::Dir::kRx, 0, kRequest, 10);
  Add(capture::Dir::kTx, 0, kResponse, 20);
  ASSERT_EQ(records_.size(), 1u);
  EXPECT_EQ(records_[0].method, "FOOBARBAZ");
  EXPECT_EQ(records_[0].target, "/x");
  EXPECT_EQ(records_[0].host, "h");
  EXPECT_EQ(records_[0].status, 405);
  EXPECT_EQ(records_[0].request_bytes, kRequest.size());
  EXPECT_EQ(records_[0].error, "");
  EXPECT_FALSE(records_[0].client);
  EXPECT_EQ(tracker_.stats().invalid, 0u);
}

// A message cut short by the connection's end says so; lost bytes only
// when bytes were lost.
TEST_F(Http1TrackerTest, CutShortByTheEndIsNotBlamedOnLostBytes) {
  Add(capture::Dir::kTx, 0,
      "POST /up HTTP/1.1\r\n"                    // method, target, version
      "Content-Length: 9223372036854775808\r\n"  // 2^63 bytes of body
      "\r\n"                                     // end of headers
      "abc",                                     // what came before the end
      10);
  Add(capture::Dir::kRx, 0,
      "HTTP/1.1 413 Content Too Large\r\n"  // the server answers before the body's end
      "Content-Length: 0\r\n"               // no body
      "\r\n",                               // end of headers
      20);
  EXPECT_TRUE(records_.empty()) << "the request is not whole yet";
  reassembler_.close(42);
  ASSERT_EQ(records_.size(), 1u);
  EXPECT_EQ(records_[0].status, 413);
  EXPECT_EQ(records_[0].error, "request cut short by the connection's end");
  EXPECT_EQ(records_[0].request_body_bytes, 3u);
  EXPECT_EQ(tracker_.stats().gaps, 0u);

  Add(capture::Dir::kTx, 0, "GET / HTTP/1.1\r\n\r\n", 100);
  Add(capture::Dir::kRx, 0,
      "HTTP/1.1 200 OK\r\n"             // version, status, reason
      "Transfer-Encoding: chunked\r\n"  // chunked body
      "\r\n"                            // end of headers
      "8000000000000000\r\n"            // a chunk of 2^63 bytes
      "xyz",                            // its first bytes, then the end
      110);
  reassembler_.close(42);
  ASSERT_EQ(records_.size(), 2u);
  EXPECT_EQ(records_[1].status, 200);
  EXPECT_EQ(records_[1].error, "response cut short by the connection's end");
  EXPECT_EQ(records_[1].response_body_bytes, 3u);
}

TEST_F(Http1TrackerTest, NotHttpIsCountedAndYieldsNothing) {
  Add(capture::Dir::kTx, 0, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 10);
  Add(capture::Dir::kRx, 0, std::string_view("\x00\x00\x12\x04\x00\x00\x00\x00\x00", 9), 20);
  reassembler_.close_all();
  EXPECT_TRUE(records_.empty());
  EXPECT_EQ(tracker_.stats().undecided_bytes, 24u + 9u);
}

}  // namespace
}  // namespace tlstap::protocols::http1
