#include "protocols/http1/tracker.h"

#include <utility>

namespace tlstap::protocols::http1 {
Tracker::Conn& Tracker::conn(uint64_t conn_id) {
  std::unique_ptr<Conn>& c = conns_[conn_id];
  if (!c) c = std::make_unique<Conn>();
  return *c;
}

void Tracker::on_data(const streams::ConnInfo& info, capture::Dir dir, uint64_t /*pos*/,
                      std::string_view bytes, uint64_t ts_ns) {
  Conn& c = conn(info.conn_id);
  if (!c.request_dir) {
    if (FindFrameBoundary(MessageType::kRequest, bytes, 0) == 0) {
      c.request_dir = dir;
    } else if (FindFrameBoundary(MessageType::kResponse, bytes, 0) == 0) {
      c.request_dir = capture::opposite(dir);
    } else {
      // tlstap started mid-message, or this is not HTTP/1 (h2, a database).
      closed_.undecided_bytes += bytes.size();
      c.missed[capture::dir_index(dir)] = true;
      return;
    }
    // A direction whose first bytes went by unparsed starts at a message start.
    if (c.missed[0] || c.missed[1]) {
      for (capture::Dir d : {capture::Dir::kTx, capture::Dir::kRx}) {
        if (!c.missed[capture::dir_index(d)]) continue;
        Parser& p = d == *c.request_dir ? c.requests : c.responses;
        p.on_gap();
      }
    }
  }
  bool requests = dir == *c.request_dir;
  Parser& p = requests ? c.requests : c.responses;
  std::deque<Message>& queue = requests ? c.request_queue : c.response_queue;
  p.set_timestamp(ts_ns);
  while (!bytes.empty()) {
    Message msg;
    ParseState state = p.ParseFrame(&bytes, &msg);
    if (state == ParseState::kSuccess) {
      queue.push_back(std::move(msg));
    } else if (state == ParseState::kNeedsMoreData || state == ParseState::kEndOfStream) {
      break;
    }
  }
  stitch(info, &c, /*closed=*/false);
}

void Tracker::on_gap(const streams::ConnInfo& info, capture::Dir dir, uint64_t /*pos*/,
                     uint64_t /*len*/) {
  ++closed_.gaps;
  Conn& c = conn(info.conn_id);
  if (!c.request_dir) {
    c.missed[capture::dir_index(dir)] = true;
    return;
  }
  bool requests = dir == *c.request_dir;
  std::optional<Message> cut = (requests ? c.requests : c.responses).on_gap();
  if (cut) (requests ? c.request_queue : c.response_queue).push_back(std::move(*cut));
  stitch(info, &c, /*closed=*/false);
}

void Tracker::on_close(const streams::ConnInfo& info, streams::CloseReason /*reason*/) {
  auto found = conns_.find(info.conn_id);
  if (found == conns_.end()) return;
  Conn& c = *found->second;
  if (c.request_dir) {
    if (auto last = c.requests.on_close()) c.request_queue.push_back(std::move(*last));
    if (auto last = c.responses.on_close()) c.response_queue.push_back(std::move(*last));
    stitch(info, &c, /*closed=*/true);
  }
  add_parser_stats(c.requests, &closed_);
  add_parser_stats(c.responses, &closed_);
  conns_.erase(found);
}

void Tracker::stitch(const streams::ConnInfo& info, Conn* c, bool closed) {
  StitchResult result = Stitch(&c->request_queue, &c->response_queue, closed);
  closed_.errors += result.error_count;
  for (Record& r : result.records) {
    r.conn = info;
    r.client = c->request_dir == capture::Dir::kTx;
    ++closed_.records;
    on_record_(std::move(r));
  }
}

void Tracker::add_parser_stats(const Parser& p, TrackerStats* s) {
  s->invalid += p.invalid();
  s->skipped_bytes += p.skipped_bytes();
  s->ignored_bytes += p.ignored_bytes();
  s->interim_responses += p.interim_responses();
}

TrackerStats Tracker::stats() const {
  TrackerStats s = closed_;
  for (const auto& [id, c] : conns_) {
    add_parser_stats(c->requests, &s);
    add_parser_stats(c->responses, &s);
  }
  return s;
}

}  // namespace tlstap::protocols::http1
