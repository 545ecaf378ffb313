// Sends each connection to the protocol it speaks, decided by its first
// bytes in either direction: each Route's classifier (the protocol's
// ClassifyOpening) looks at them (HTTP/2: the client preface or a server's
// first SETTINGS frame); the first that says kClient or kServer takes the
// connection; when none does and none needs
// more, the fallback (HTTP/1, which finds its own message starts) takes it.
// Bytes too few to decide are held, at most kMaxHeld per direction, and
// handed on with the ones that decide.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "streams/reassembler.h"

namespace tlstap::protocols {

// What the first bytes one direction carried say about a protocol: each
// protocol's ClassifyOpening answers it, for the Router and its tracker.
enum class Opening : uint8_t {
  kNeedMore,  // too few bytes to tell
  kClient,    // the protocol's opening, sent by its client: this direction is the client's
  kServer,    // the protocol's opening, sent by its server
  kNo,        // not this protocol's opening
};

// The route takes the connection.
inline bool takes(Opening o) { return o == Opening::kClient || o == Opening::kServer; }

struct Route {
  Opening (*classify)(std::string_view first_bytes);  // a protocol's ClassifyOpening
  streams::Sink* sink;
};

class Router final : public streams::Sink {
 public:
  // Enough for any route's classifier to decide; more held is a no.
  static constexpr size_t kMaxHeld = 64;

  Router(std::vector<Route> routes, streams::Sink* fallback)
      : routes_(std::move(routes)), fallback_(fallback) {}

  void on_data(const streams::ConnInfo& conn, capture::Dir dir, uint64_t pos,
               std::string_view bytes, uint64_t ts_ns) override;
  // A gap before the decision means the connection's start was missed:
  // no route can decide from the middle, so it goes to the fallback.
  void on_gap(const streams::ConnInfo& conn, capture::Dir dir, uint64_t pos, uint64_t len) override;
  void on_close(const streams::ConnInfo& conn, streams::CloseReason reason) override;

  // Connections given to routes_[i].
  uint64_t connections_routed(size_t i) const { return routed_.at(i); }
  size_t connections() const { return conns_.size(); }

 private:
  struct Held {
    uint64_t pos = 0, ts_ns = 0;
    std::string bytes;
  };
  struct Conn {
    streams::Sink* to = nullptr;  // nullptr: not decided yet
    std::array<Held, 2> held;     // tx, rx
  };
  // The route's sink, nullptr while some route needs more bytes.
  streams::Sink* classify(std::string_view first);
  void decide(const streams::ConnInfo& info, Conn* c, streams::Sink* to, capture::Dir except);

  std::vector<Route> routes_;
  streams::Sink* fallback_;
  std::vector<uint64_t> routed_ = std::vector<uint64_t>(routes_.size());
  std::unordered_map<uint64_t, Conn> conns_;
};

}  // namespace tlstap::protocols
