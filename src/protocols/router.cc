#include "protocols/router.h"

#include "protocols/http2/parse.h"

namespace tlstap::protocols {
void Router::decide(const streams::ConnInfo& info, Conn* c, streams::Sink* to,
                    capture::Dir except) {
  c->to = to;
  if (to == http2_) ++http2_connections_;
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
  http2::Opening opening = http2::ClassifyOpening(first);
  if (opening == http2::Opening::kNeedMore) {
    if (h.bytes.empty()) h.pos = pos;
    h.bytes.assign(first);
    h.ts_ns = ts_ns;
    return;
  }
  streams::Sink* to = opening == http2::Opening::kNotHttp2 ? http1_ : http2_;
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
    decide(info, &c, http1_, dir);
    if (!mine.bytes.empty()) http1_->on_data(info, dir, mine.pos, mine.bytes, mine.ts_ns);
  }
  c.to->on_gap(info, dir, pos, len);
}

void Router::on_close(const streams::ConnInfo& info, streams::CloseReason reason) {
  auto found = conns_.find(info.conn_id);
  if (found == conns_.end()) return;
  Conn& c = found->second;
  if (!c.to) {
    // Closed while too few bytes to decide: they go to HTTP/1, as any
    // connection that did not open as HTTP/2.
    decide(info, &c, http1_, capture::Dir::kTx);
    Held& h = c.held[capture::dir_index(capture::Dir::kTx)];
    if (!h.bytes.empty()) http1_->on_data(info, capture::Dir::kTx, h.pos, h.bytes, h.ts_ns);
  }
  c.to->on_close(info, reason);
  conns_.erase(found);
}

}  // namespace tlstap::protocols
