// libFuzzer target: the HTTP/1 parser pair of one connection, fed in calls
// of any size, with gaps and a close, then paired. Input: records of
// [op][length][length bytes]; op % 4: 0 request bytes, 1 response bytes,
// 2 gap in the requests, 3 gap in the responses.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string_view>

#include "protocols/http1/parse.h"
#include "protocols/http1/stitch.h"

namespace http1 = tlstap::protocols::http1;
using tlstap::protocols::ParseState;

namespace {

// Parses one call's bytes; every ParseFrame must consume something or say
// it waits, so a call of n bytes takes at most n + 2 rounds.
void Parse(http1::Parser* parser, std::string_view bytes, std::deque<http1::Message>* out) {
  size_t rounds = 0, limit = bytes.size() + 2;
  while (!bytes.empty()) {
    if (++rounds > limit) __builtin_trap();  // no progress: a connection would stall
    size_t before = bytes.size();
    http1::Message msg;
    ParseState state = parser->ParseFrame(&bytes, &msg);
    if (bytes.size() > before) __builtin_trap();
    if (state == ParseState::kSuccess) out->push_back(std::move(msg));
    if (state == ParseState::kNeedsMoreData || state == ParseState::kEndOfStream) {
      if (!bytes.empty()) __builtin_trap();  // both consume everything
      break;
    }
  }
}

void Check(std::deque<http1::Message>* reqs, std::deque<http1::Message>* resps, bool closed) {
  http1::StitchResult result = http1::Stitch(reqs, resps, closed);
  if (reqs->size() > http1::kMaxWaiting || resps->size() > http1::kMaxWaiting) __builtin_trap();
  if (closed && (!reqs->empty() || !resps->empty())) __builtin_trap();
  for (const auto& m : *reqs)
    if (m.body.size() > http1::kMaxBodyKept) __builtin_trap();
  (void)result;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  http1::ConnState conn;
  http1::Parser requests(http1::MessageType::kRequest, &conn);
  http1::Parser responses(http1::MessageType::kResponse, &conn);
  std::deque<http1::Message> reqs, resps;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  uint64_t ts = 0;
  while (in.size() >= 2) {
    uint8_t op = in[0] & 3;
    size_t len = std::min<size_t>(static_cast<uint8_t>(in[1]), in.size() - 2);
    std::string_view bytes = in.substr(2, len);
    in.remove_prefix(2 + len);
    http1::Parser& parser = (op & 1) ? responses : requests;
    std::deque<http1::Message>& queue = (op & 1) ? resps : reqs;
    parser.set_timestamp(++ts);
    if (op < 2) {
      Parse(&parser, bytes, &queue);
      // Boundaries found must be real positions.
      for (auto type : {http1::MessageType::kRequest, http1::MessageType::kResponse}) {
        size_t at = http1::FindFrameBoundary(type, bytes, 0);
        if (at != std::string_view::npos && at >= bytes.size()) __builtin_trap();
      }
    } else if (auto cut = parser.on_gap()) {
      queue.push_back(std::move(*cut));
    }
    Check(&reqs, &resps, false);
  }
  if (auto last = requests.on_close()) reqs.push_back(std::move(*last));
  if (auto last = responses.on_close()) resps.push_back(std::move(*last));
  Check(&reqs, &resps, true);
  return 0;
}
