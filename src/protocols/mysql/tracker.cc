#include "protocols/mysql/tracker.h"

#include <utility>

namespace tlstap::protocols::mysql {

Tracker::Conn& Tracker::conn(uint64_t conn_id) {
  std::unique_ptr<Conn>& c = conns_[conn_id];
  if (!c) c = std::make_unique<Conn>(limits_, &stats_);
  return *c;
}

void Tracker::emit(const streams::ConnInfo& info, const Conn& c, Record&& r) {
  r.conn = info;
  r.client = c.client_dir == capture::Dir::kTx;
  on_record_(std::move(r));
}

void Tracker::deliver(const streams::ConnInfo& info, Conn* c, bool from_client, const Packet& p) {
  auto emit_record = [&](Record&& r) { emit(info, *c, std::move(r)); };
  if (from_client) {
    c->conversation.on_request(p, emit_record);
    if (c->conversation.compressed()) {
      ++stats_.compressed;
      c->given_up = true;
    }
  } else {
    c->conversation.on_response(p, emit_record);
  }
}

bool Tracker::resync(Conn* c, bool from_client, std::string_view* bytes) {
  PacketParser& p = c->parsers[capture::dir_index(from_client ? *c->client_dir
                                                              : capture::opposite(*c->client_dir))];
  if (from_client) {
    size_t at = FindCommandStart(*bytes);
    if (at == std::string_view::npos) {
      stats_.skipped_bytes += bytes->size();
      return false;
    }
    stats_.skipped_bytes += at;
    bytes->remove_prefix(at);
    p.resume();
    return true;
  }
  // The server writes a response from its start: the first call after a
  // new command, if it starts with sequence id 1.
  if (c->conversation.may_resume_responses() && bytes->size() >= kHeaderSize && (*bytes)[3] == 1) {
    p.resume();
    return true;
  }
  stats_.skipped_bytes += bytes->size();
  return false;
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
      // Not an opening: the other direction may still show one.
      c.missed[capture::dir_index(dir)] = true;
      stats_.skipped_bytes += bytes.size();
      return;
    }
    for (capture::Dir d : {capture::Dir::kTx, capture::Dir::kRx}) {
      if (!c.missed[capture::dir_index(d)]) continue;
      c.parsers[capture::dir_index(d)].lose();
      if (d != *c.client_dir) {
        c.conversation.on_responses_lost([&](Record&& r) { emit(info, c, std::move(r)); });
      }
    }
  }
  bool from_client = dir == *c.client_dir;
  PacketParser& p = c.parsers[capture::dir_index(dir)];
  while (!bytes.empty() && !c.given_up) {
    if (p.lost() && !resync(&c, from_client, &bytes)) return;
    Packet packet;
    if (p.ParseFrame(&bytes, &packet, ts_ns) != ParseState::kSuccess) break;
    deliver(info, &c, from_client, packet);
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
  PacketParser& p = c.parsers[capture::dir_index(dir)];
  if (p.lost()) return;
  std::optional<Packet> ended = p.on_gap(len);
  if (ended) deliver(info, &c, from_client, *ended);
  if (p.lost() && !from_client) {
    c.conversation.on_responses_lost([&](Record&& r) { emit(info, c, std::move(r)); });
  }
}

void Tracker::on_close(const streams::ConnInfo& info, streams::CloseReason /*reason*/) {
  auto found = conns_.find(info.conn_id);
  if (found == conns_.end()) return;
  Conn& c = *found->second;
  if (!c.client_dir) ++stats_.invalid;  // neither direction opened as MySQL does
  if (!c.given_up) c.conversation.close([&](Record&& r) { emit(info, c, std::move(r)); });
  conns_.erase(found);
}

}  // namespace tlstap::protocols::mysql
