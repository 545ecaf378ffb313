#include "streams/reassembler.h"

#include <algorithm>
#include <limits>
#include <vector>

namespace tlstap::streams {
namespace {

// Forwards one direction's output to the sink with its connection and direction.
class Forward final : public Delivery {
 public:
  Forward(Sink* sink, const ConnInfo* conn, capture::Dir dir)
      : sink_(sink), conn_(conn), dir_(dir) {}
  void on_data(uint64_t pos, std::string_view bytes, uint64_t ts_ns) override {
    sink_->on_data(*conn_, dir_, pos, bytes, ts_ns);
  }
  void on_gap(uint64_t pos, uint64_t len) override { sink_->on_gap(*conn_, dir_, pos, len); }

 private:
  Sink* sink_;
  const ConnInfo* conn_;
  capture::Dir dir_;
};

}  // namespace

std::string_view close_reason_name(CloseReason reason) {
  switch (reason) {
    case CloseReason::kClosed:
      return "closed";
    case CloseReason::kIdle:
      return "idle";
    case CloseReason::kEvicted:
      return "evicted";
  }
  return "?";
}

void Reassembler::add(const capture::DataEvent& event) {
  ++stats_.events;
  if (event.conn_id == 0) {
    ++stats_.unattributed_events;
    return;
  }
  // The call covers [stream_pos, stream_pos + len); data holds its bytes
  // minus the lost ranges. Anything inconsistent is refused whole rather
  // than placed at a guessed position.
  uint64_t len = event.len;
  if (len > std::numeric_limits<uint64_t>::max() - event.stream_pos) {
    ++stats_.malformed_events;
    return;
  }
  std::vector<std::pair<uint64_t, uint64_t>> lost = event.lost;
  std::sort(lost.begin(), lost.end());
  uint64_t lost_total = 0, cursor = 0;
  for (auto [off, n] : lost) {
    if (off < cursor || off > len || n > len - off) {
      ++stats_.malformed_events;
      return;
    }
    cursor = off + n;
    lost_total += n;
  }
  if (event.data.size() != len - lost_total) {
    ++stats_.malformed_events;
    return;
  }

  Connection* conn = find_or_open(event);
  DirectionStream& stream = event.dir == capture::Dir::kTx ? conn->tx : conn->rx;
  Forward out(sink_, &conn->info, event.dir);
  std::string_view data = event.data;
  uint64_t off = 0;
  for (auto [lost_off, n] : lost) {
    uint64_t before = lost_off - off;
    stream.add(event.stream_pos + off, data.substr(0, before), event.ts_ns, &out);
    data.remove_prefix(before);
    if (n) stream.add_lost(event.stream_pos + lost_off, n, event.ts_ns, &out);
    off = lost_off + n;
  }
  stream.add(event.stream_pos + off, data, event.ts_ns, &out);
}

Reassembler::Connection* Reassembler::find_or_open(const capture::DataEvent& event) {
  auto found = by_id_.find(event.conn_id);
  Lru::iterator it;
  if (found != by_id_.end()) {
    it = found->second;
    lru_.splice(lru_.begin(), lru_, it);  // now the most recently active
  } else {
    if (by_id_.size() >= limits_.max_connections && !lru_.empty()) {
      ++stats_.connections_evicted;
      end(std::prev(lru_.end()), CloseReason::kEvicted);
    }
    lru_.emplace_front(&limits_, &stats_);
    it = lru_.begin();
    by_id_.emplace(event.conn_id, it);
    ++stats_.connections_opened;
  }
  // Attribution can improve during a session (an fd found later): the
  // latest event's is kept.
  ConnInfo& info = it->info;
  info.conn_id = event.conn_id;
  info.pid = event.pid;
  if (event.fd >= 0 || info.fd < 0) info.fd = event.fd;
  if (info.comm != event.comm) info.comm = event.comm;
  info.lib = event.lib;
  if (event.local.family) info.local = event.local;
  if (event.remote.family) info.remote = event.remote;
  it->last_event_ns = std::max(it->last_event_ns, event.ts_ns);
  return &*it;
}

void Reassembler::end(Lru::iterator it, CloseReason reason) {
  Forward tx(sink_, &it->info, capture::Dir::kTx);
  Forward rx(sink_, &it->info, capture::Dir::kRx);
  it->tx.flush(&tx);
  it->rx.flush(&rx);
  sink_->on_close(it->info, reason);
  by_id_.erase(it->info.conn_id);
  lru_.erase(it);
}

void Reassembler::close(uint64_t conn_id) {
  auto found = by_id_.find(conn_id);
  if (found == by_id_.end()) return;
  ++stats_.connections_closed;
  end(found->second, CloseReason::kClosed);
}

void Reassembler::expire(uint64_t now_ns) {
  // From the least recently active end: idle ones are all there.
  while (!lru_.empty()) {
    Connection& oldest = lru_.back();
    if (now_ns < oldest.last_event_ns || now_ns - oldest.last_event_ns < limits_.idle_timeout_ns)
      break;
    ++stats_.connections_idle;
    end(std::prev(lru_.end()), CloseReason::kIdle);
  }
  for (Connection& conn : lru_) {
    Forward tx(sink_, &conn.info, capture::Dir::kTx);
    Forward rx(sink_, &conn.info, capture::Dir::kRx);
    conn.tx.expire(now_ns, &tx);
    conn.rx.expire(now_ns, &rx);
  }
}

void Reassembler::close_all() {
  while (!lru_.empty()) {
    ++stats_.connections_closed;
    end(lru_.begin(), CloseReason::kClosed);
  }
}

uint64_t Reassembler::pending_bytes() const {
  uint64_t total = 0;
  for (const Connection& conn : lru_) total += conn.tx.pending_bytes() + conn.rx.pending_bytes();
  return total;
}

}  // namespace tlstap::streams
