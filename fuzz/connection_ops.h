// What the fuzzers that drive one connection through the Router share: the
// sink for connections no route takes, and the input after the flags byte:
// records of [op][length][length bytes]; op % 4: 0 client bytes, 1 server
// bytes, 2 a gap of length + 1 in the client's direction, 3 in the server's.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string_view>

#include "streams/reassembler.h"

namespace tlstap::fuzz {

// Where connections that are not the fuzzed protocol from their start go.
class NullSink : public streams::Sink {
 public:
  void on_data(const streams::ConnInfo&, capture::Dir, uint64_t, std::string_view,
               uint64_t) override {}
  void on_gap(const streams::ConnInfo&, capture::Dir, uint64_t, uint64_t) override {}
  void on_close(const streams::ConnInfo&, streams::CloseReason) override {}
};

// Feeds the records of `in` to sink as connection `info`, each direction
// going on from pos[0] (tx, the client's) and pos[1] (rx), call times
// after *ts; then closes the connection.
inline void FeedOps(streams::Sink& sink, const streams::ConnInfo& info, std::string_view in,
                    uint64_t pos[2], uint64_t* ts) {
  while (in.size() >= 2) {
    uint8_t op = in[0] & 3;
    size_t len = std::min<size_t>(static_cast<uint8_t>(in[1]), in.size() - 2);
    std::string_view bytes = in.substr(2, len);
    in.remove_prefix(2 + len);
    capture::Dir dir = (op & 1) ? capture::Dir::kRx : capture::Dir::kTx;
    size_t i = (op & 1) ? 1 : 0;
    if (op < 2) {
      sink.on_data(info, dir, pos[i], bytes, ++*ts);
      pos[i] += bytes.size();
    } else {
      uint64_t gap = len + 1;
      sink.on_gap(info, dir, pos[i], gap);
      pos[i] += gap;
    }
  }
  sink.on_close(info, streams::CloseReason::kClosed);
}

}  // namespace tlstap::fuzz
