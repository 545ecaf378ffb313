// Per-connection reassembly: DataEvents in, each connection's two
// directions out as ordered bytes and gaps, to a Sink (a protocol parser).
// Bounded: each direction holds at most Limits::max_pending_bytes behind a
// hole (plus the event being added), and at most Limits::max_connections
// connections are tracked; the least recently active one is evicted.
#pragma once

#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

#include "capture/events.h"
#include "streams/direction_stream.h"

namespace tlstap::streams {

// Who and where, from the connection's latest event.
struct ConnInfo {
  uint64_t conn_id = 0;
  pid_t pid = 0;
  int32_t fd = -1;
  std::string comm;
  capture::Lib lib = capture::Lib::kUnknown;
  capture::Endpoint local, remote;
};

enum class CloseReason : uint8_t {
  kClosed,   // close() was called (the session ended)
  kIdle,     // no event for Limits::idle_timeout_ns
  kEvicted,  // Limits::max_connections reached; this one was the least recently active
};

std::string_view close_reason_name(CloseReason reason);

class Sink {
 public:
  virtual ~Sink() = default;
  // The next bytes of a direction, in order: pos follows the previous data or gap.
  virtual void on_data(const ConnInfo& conn, capture::Dir dir, uint64_t pos, std::string_view bytes,
                       uint64_t ts_ns) = 0;
  // [pos, pos + len) of a direction will never come: parsers resynchronise.
  virtual void on_gap(const ConnInfo& conn, capture::Dir dir, uint64_t pos, uint64_t len) = 0;
  // Nothing more will come for this connection (all it held was handed on).
  virtual void on_close(const ConnInfo& conn, CloseReason reason) = 0;
};

class Reassembler {
 public:
  Reassembler(Limits limits, Sink* sink) : limits_(limits), sink_(sink) {}
  Reassembler(const Reassembler&) = delete;
  Reassembler& operator=(const Reassembler&) = delete;

  void add(const capture::DataEvent& event);
  // The session ended: hand on what is held (holes as gaps) and forget it.
  void close(uint64_t conn_id);
  // Gives up holes older than max_hole_age_ns and closes connections idle
  // for idle_timeout_ns, at now_ns (the events' clock, CLOCK_REALTIME).
  void expire(uint64_t now_ns);
  // Closes every connection (at exit).
  void close_all();

  const Stats& stats() const { return stats_; }
  size_t connections() const { return by_id_.size(); }
  // Bytes held behind holes, all connections: what reassembly costs in memory.
  uint64_t pending_bytes() const;

 private:
  struct Connection {
    Connection(const Limits* limits, Stats* stats) : tx(limits, stats), rx(limits, stats) {}
    ConnInfo info;
    DirectionStream tx, rx;
    uint64_t last_event_ns = 0;
  };
  using Lru = std::list<Connection>;  // most recently active first

  Connection* find_or_open(const capture::DataEvent& event);
  void end(Lru::iterator it, CloseReason reason);

  Limits limits_;
  Sink* sink_;
  Stats stats_;
  Lru lru_;
  std::unordered_map<uint64_t, Lru::iterator> by_id_;
};

}  // namespace tlstap::streams
