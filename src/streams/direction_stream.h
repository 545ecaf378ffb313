// One direction of one connection, put back in byte order. Events carry the
// position of their first byte in the direction (stream_pos); they may come
// out of order (calls of one session returning on different CPUs), twice,
// overlapping, or with ranges the kernel could not capture. Bytes are handed
// on the moment they are contiguous with what was handed on before; a range
// that is known lost, or a hole that stays open too long or holds back too
// many bytes, is handed on as a gap and never waited for again.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace tlstap::streams {

struct Limits {
  // Bytes one direction may hold behind a hole. Reaching it gives the hole
  // up (a gap) rather than growing: memory per connection stays bounded.
  // Large enough for one 1 MiB call overtaking a small one.
  uint64_t max_pending_bytes = 2 << 20;
  // How long (event time) a hole may stay open before it is a gap. Calls
  // of one session reach the ring buffer within microseconds of each other;
  // a hole this old is data that will not come.
  uint64_t max_hole_age_ns = 1'000'000'000;
  // Connections tracked at once; the least recently active one is evicted.
  size_t max_connections = 16384;
  // A connection without events for this long is closed by expire().
  uint64_t idle_timeout_ns = 300'000'000'000;
};

struct Stats {
  uint64_t events = 0;
  uint64_t unattributed_events = 0;  // conn_id 0: no session to reassemble in
  uint64_t malformed_events = 0;     // positions that overflow, lost ranges past the call
  uint64_t delivered_bytes = 0;
  uint64_t duplicate_bytes = 0;  // received again (overlap, retransmitted chunk): dropped
  uint64_t lost_bytes = 0;       // the event itself said they were lost
  uint64_t hole_bytes = 0;       // never arrived: hole given up (age, memory)
  uint64_t overflow_bytes = 0;   // arrived but dropped: no room even after giving holes up
  uint64_t gaps = 0;             // gaps handed on (adjacent lost ranges count once)
  uint64_t holes_given_up = 0;
  uint64_t connections_opened = 0;
  uint64_t connections_closed = 0;
  uint64_t connections_idle = 0;
  uint64_t connections_evicted = 0;
};

// Where a direction's bytes go, in order.
class Delivery {
 public:
  virtual ~Delivery() = default;
  // [pos, pos + bytes.size()) follows what was delivered before.
  virtual void on_data(uint64_t pos, std::string_view bytes, uint64_t ts_ns) = 0;
  // [pos, pos + len) will never be delivered; the next data starts at pos + len.
  virtual void on_gap(uint64_t pos, uint64_t len) = 0;
};

class DirectionStream {
 public:
  DirectionStream(const Limits* limits, Stats* stats) : limits_(limits), stats_(stats) {}

  // Bytes [pos, pos + bytes.size()) seen by a call that returned at ts_ns.
  void add(uint64_t pos, std::string_view bytes, uint64_t ts_ns, Delivery* out);
  // [pos, pos + len) is known lost.
  void add_lost(uint64_t pos, uint64_t len, uint64_t ts_ns, Delivery* out);
  // Gives up a hole open since before now_ns - max_hole_age_ns.
  void expire(uint64_t now_ns, Delivery* out);
  // Hands on everything held, holes as gaps (the connection ends).
  void flush(Delivery* out);

  uint64_t next_pos() const { return next_pos_; }
  uint64_t pending_bytes() const { return pending_bytes_; }

 private:
  struct Piece {
    uint64_t len = 0;
    std::string bytes;  // empty for a lost range
    uint64_t ts_ns = 0;
    bool lost = false;
  };

  // Stores the parts of [pos, end) not held already; bytes empty when lost.
  void insert(uint64_t pos, uint64_t end, std::string_view bytes, uint64_t ts_ns, bool lost);
  // Hands on pieces contiguous with next_pos_.
  void deliver(Delivery* out);
  // Declares [next_pos_, up_to) lost (up_to: the first piece held, at most).
  void give_up_hole(uint64_t up_to, Delivery* out);
  void note_time(uint64_t ts_ns) {
    if (ts_ns > now_ns_) now_ns_ = ts_ns;
  }

  const Limits* limits_;
  Stats* stats_;
  std::map<uint64_t, Piece> pending_;  // by position; never overlapping, all >= next_pos_
  uint64_t next_pos_ = 0;              // first byte not handed on yet
  uint64_t pending_bytes_ = 0;
  uint64_t hole_since_ns_ = 0;  // when the hole in front of pending_ opened (event time)
  uint64_t now_ns_ = 0;         // latest event time seen
};

}  // namespace tlstap::streams
