#include "protocols/pgsql/tracker.h"

#include <utility>

namespace tlstap::protocols::pgsql {

void Tracker::emit(const streams::ConnInfo& info, const Conn& c, Record&& r) {
  r.conn = info;
  r.client = c.client_dir == capture::Dir::kTx;
  on_record_(std::move(r));
}

void Tracker::on_data(const streams::ConnInfo& info, capture::Dir dir, uint64_t /*pos*/,
                      std::string_view bytes, uint64_t ts_ns) {
  auto found = conns_.find(info.conn_id);
  if (found == conns_.end()) {
    if (given_up_.contains(info.conn_id)) return;
    Opening opening = ClassifyOpening(bytes);
    if (opening != Opening::kClient && opening != Opening::kServer) {
      ++closed_.invalid;
      given_up_[info.conn_id] = true;
      return;
    }
    capture::Dir client = opening == Opening::kClient ? dir : capture::opposite(dir);
    found = conns_.emplace(info.conn_id, std::make_unique<Conn>(limits_, &closed_, client)).first;
  }
  std::unique_ptr<Conn>& c = found->second;
  const bool from_client = dir == c->client_dir;
  MessageParser& p = c->parsers[capture::dir_index(dir)];
  const Conn& conn = *c;
  auto emit_record = [&](Record&& r) { emit(info, conn, std::move(r)); };
  while (!bytes.empty()) {
    Message msg;
    ParseState state = p.ParseFrame(&bytes, &msg, ts_ns);
    if (state == ParseState::kSuccess) {
      if (from_client) {
        c->commands.on_client_message(msg);
      } else {
        c->commands.on_server_message(msg, emit_record);
      }
    } else if (state == ParseState::kNeedsMoreData) {
      break;
    }
  }
}

void Tracker::on_gap(const streams::ConnInfo& info, capture::Dir dir, uint64_t /*pos*/,
                     uint64_t len) {
  ++closed_.gaps;
  auto found = conns_.find(info.conn_id);
  if (found == conns_.end()) return;  // the Router hands gaps before the start to HTTP/1
  Conn& c = *found->second;
  const bool from_client = dir == c.client_dir;
  MessageParser& p = c.parsers[capture::dir_index(dir)];
  std::optional<Message> ended = p.on_gap(len);
  auto emit_record = [&](Record&& r) { emit(info, c, std::move(r)); };
  if (!from_client) c.commands.on_server_gap(p.resyncing());
  if (!ended) return;
  if (from_client) {
    c.commands.on_client_message(*ended);
  } else {
    c.commands.on_server_message(*ended, emit_record);
  }
}

void Tracker::on_close(const streams::ConnInfo& info, streams::CloseReason /*reason*/) {
  given_up_.erase(info.conn_id);
  auto found = conns_.find(info.conn_id);
  if (found == conns_.end()) return;
  Conn& c = *found->second;
  c.commands.close([&](Record&& r) { emit(info, c, std::move(r)); });
  for (const MessageParser& p : c.parsers) add_parser_stats(p, &closed_);
  conns_.erase(found);
}

void Tracker::add_parser_stats(const MessageParser& p, Stats* s) {
  s->invalid += p.invalid();
  s->skipped_bytes += p.skipped_bytes();
  s->cut += p.cut();
}

Stats Tracker::stats() const {
  Stats s = closed_;
  for (const auto& [id, c] : conns_) {
    for (const MessageParser& p : c->parsers) add_parser_stats(p, &s);
  }
  return s;
}

}  // namespace tlstap::protocols::pgsql
