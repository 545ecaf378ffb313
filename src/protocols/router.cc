#include "protocols/router.h"

namespace tlstap::protocols {

streams::Sink* Router::classify(std::string_view first) {
  bool need_more = false;
  for (size_t i = 0; i < routes_.size(); ++i) {
    Opening o = routes_[i].classify(first);
    if (takes(o)) {
      ++routed_[i];
      return routes_[i].sink;
    }
    need_more |= o == Opening::kNeedMore;
  }
  return need_more && first.size() < kMaxHeld ? nullptr : fallback_;
}

void Router::decide(const streams::ConnInfo& info, Conn* c, streams::Sink* to,
                    capture::Dir except) {
  c->to = to;
  // What the other direction held goes first; the deciding direction's is
  // handed on by the caller, joined with the bytes that decided.
  for (capture::Dir d : {capture::Dir::kTx, capture::Dir::kRx}) {
    Held& h = c->held[capture::dir_index(d)];
    if (d != except && !h.bytes.empty()) to->on_data(info, d, h.pos, h.bytes, h.ts_ns);
    if (d != except) h = Held{};
  }
}

void Router::on_data(const streams::ConnInfo& info, capture::Dir dir, uint64_t pos,
                     std::string_view bytes, uint64_t ts_ns) {
  Conn& c = conns_[info.conn_id];
  if (c.to) {
    c.to->on_data(info, dir, pos, bytes, ts_ns);
    return;
  }
  Held& h = c.held[capture::dir_index(dir)];
  std::string joined;
  std::string_view first = bytes;
  if (!h.bytes.empty()) {
    joined = h.bytes;
    joined.append(bytes);
    first = joined;
    pos = h.pos;
  }
  streams::Sink* to = classify(first);
  if (!to) {
    if (h.bytes.empty()) h.pos = pos;
    h.bytes.assign(first);
    h.ts_ns = ts_ns;
    return;
  }
  decide(info, &c, to, dir);
  h = Held{};
  to->on_data(info, dir, pos, first, ts_ns);
}

void Router::on_gap(const streams::ConnInfo& info, capture::Dir dir, uint64_t pos, uint64_t len) {
  Conn& c = conns_[info.conn_id];
  if (!c.to) {
    Held& h = c.held[capture::dir_index(dir)];
    Held mine = std::move(h);
    h = Held{};
    decide(info, &c, fallback_, dir);
    if (!mine.bytes.empty()) fallback_->on_data(info, dir, mine.pos, mine.bytes, mine.ts_ns);
  }
  c.to->on_gap(info, dir, pos, len);
}

void Router::on_close(const streams::ConnInfo& info, streams::CloseReason reason) {
  auto found = conns_.find(info.conn_id);
  if (found == conns_.end()) return;
  Conn& c = found->second;
  if (!c.to) {
    // Closed while too few bytes to decide: they go to the fallback, as
    // any connection no route took.
    decide(info, &c, fallback_, capture::Dir::kTx);
    Held& h = c.held[capture::dir_index(capture::Dir::kTx)];
    if (!h.bytes.empty()) fallback_->on_data(info, capture::Dir::kTx, h.pos, h.bytes, h.ts_ns);
  }
  c.to->on_close(info, reason);
  conns_.erase(found);
}

}  // namespace tlstap::protocols
