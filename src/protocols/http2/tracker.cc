#include "protocols/http2/tracker.h"

#include <limits>
#include <utility>

namespace tlstap::protocols::http2 {
Tracker::Conn& Tracker::conn(uint64_t conn_id) {
  std::unique_ptr<Conn>& c = conns_[conn_id];
  if (!c) c = std::make_unique<Conn>();
  return *c;
}

void Tracker::emit(const streams::ConnInfo& info, const Conn& c, Record&& r) {
  r.conn = info;
  r.client = c.client_dir == capture::Dir::kTx;
  on_record_(std::move(r));
}

void Tracker::on_data(const streams::ConnInfo& info, capture::Dir dir, uint64_t /*pos*/,
                      std::string_view bytes, uint64_t ts_ns) {
  Conn& c = conn(info.conn_id);
  if (c.given_up) return;
  if (!c.client_dir) {
    Opening opening = ClassifyOpening(bytes);
    if (opening == Opening::kClient) {
      c.client_dir = dir;
    } else if (opening == Opening::kServer) {
      c.client_dir = capture::opposite(dir);
    } else {
      ++stats_.invalid;
      c.given_up = true;
      return;
    }
    for (capture::Dir d : {capture::Dir::kTx, capture::Dir::kRx}) {
      c.parsers[capture::dir_index(d)] =
          std::make_unique<FrameParser>(limits_.max_frame_payload, d == *c.client_dir);
    }
    c.streams = std::make_unique<Connection>(limits_, &stats_);
    for (capture::Dir d : {capture::Dir::kTx, capture::Dir::kRx}) {
      if (!c.missed[capture::dir_index(d)]) continue;
      c.parsers[capture::dir_index(d)]->on_gap(std::numeric_limits<uint64_t>::max());
      c.streams->on_framing_lost(d == *c.client_dir);
    }
  }
  bool from_client = dir == *c.client_dir;
  FrameParser& p = *c.parsers[capture::dir_index(dir)];
  auto emit_record = [&](Record&& r) { emit(info, c, std::move(r)); };
  while (!bytes.empty()) {
    Frame frame;
    ParseState state = p.ParseFrame(&bytes, &frame, ts_ns);
    if (state == ParseState::kSuccess) {
      c.streams->on_frame(from_client, frame, emit_record);
    } else if (state == ParseState::kInvalid) {
      ++stats_.invalid;
      c.streams->on_framing_lost(from_client);
    } else {
      break;
    }
  }
}

void Tracker::on_gap(const streams::ConnInfo& info, capture::Dir dir, uint64_t /*pos*/,
                     uint64_t len) {
  ++stats_.gaps;
  Conn& c = conn(info.conn_id);
  if (c.given_up) return;
  if (!c.client_dir) {
    c.missed[capture::dir_index(dir)] = true;
    return;
  }
  bool from_client = dir == *c.client_dir;
  FrameParser& p = *c.parsers[capture::dir_index(dir)];
  if (p.lost()) return;
  std::optional<Frame> ended = p.on_gap(len);
  auto emit_record = [&](Record&& r) { emit(info, c, std::move(r)); };
  if (ended) c.streams->on_frame(from_client, *ended, emit_record);
  if (p.lost()) c.streams->on_framing_lost(from_client);
}

void Tracker::on_close(const streams::ConnInfo& info, streams::CloseReason /*reason*/) {
  auto found = conns_.find(info.conn_id);
  if (found == conns_.end()) return;
  Conn& c = *found->second;
  if (c.streams) c.streams->close([&](Record&& r) { emit(info, c, std::move(r)); });
  conns_.erase(found);
}

}  // namespace tlstap::protocols::http2
