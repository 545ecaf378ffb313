// Sends each connection to the protocol it speaks, decided by its first
// bytes: the HTTP/2 client preface, or a server's first SETTINGS frame,
// makes it HTTP/2; anything else HTTP/1 (which finds its own message
// starts). Bytes too few to decide (a prefix of the preface) are held,
// at most 24 per direction, and handed on with the ones that decide.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <unordered_map>

#include "streams/reassembler.h"

namespace tlstap::protocols {

class Router final : public streams::Sink {
 public:
  Router(streams::Sink* http1, streams::Sink* http2) : http1_(http1), http2_(http2) {}

  void on_data(const streams::ConnInfo& conn, capture::Dir dir, uint64_t pos,
               std::string_view bytes, uint64_t ts_ns) override;
  // A gap before the decision means the connection's start was missed:
  // HTTP/2 cannot be decoded from the middle, so it goes to HTTP/1.
  void on_gap(const streams::ConnInfo& conn, capture::Dir dir, uint64_t pos, uint64_t len) override;
  void on_close(const streams::ConnInfo& conn, streams::CloseReason reason) override;

  uint64_t http2_connections() const { return http2_connections_; }
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
  void decide(const streams::ConnInfo& info, Conn* c, streams::Sink* to, capture::Dir except);

  streams::Sink* http1_;
  streams::Sink* http2_;
  std::unordered_map<uint64_t, Conn> conns_;
  uint64_t http2_connections_ = 0;
};

}  // namespace tlstap::protocols
