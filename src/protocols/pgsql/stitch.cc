#include "protocols/pgsql/stitch.h"

#include <utility>

namespace tlstap::protocols::pgsql {
namespace {

// Whether a server message with tag answers (part of) a waiting client
// message with client_tag.
bool Fits(char client_tag, char tag) {
  if (tag == backend::kErrorResponse) return true;
  switch (client_tag) {
    case 0:
    case frontend::kQuery:
    case frontend::kFunctionCall:
      return true;  // everything up to ReadyForQuery
    case frontend::kParse:
      return tag == backend::kParseComplete;
    case frontend::kBind:
      return tag == backend::kBindComplete;
    case frontend::kDescribe:
      return tag == backend::kParameterDescription || tag == backend::kRowDescription ||
             tag == backend::kNoData;
    case frontend::kExecute:
      return tag == backend::kDataRow || tag == backend::kCommandComplete ||
             tag == backend::kEmptyQueryResponse || tag == backend::kPortalSuspended ||
             tag == backend::kCopyInResponse || tag == backend::kCopyOutResponse ||
             tag == backend::kCopyBothResponse || tag == backend::kCopyData ||
             tag == backend::kCopyDone;
    case frontend::kClose:
      return tag == backend::kCloseComplete;
    case frontend::kSync:
      return tag == backend::kReadyForQuery;
    default:
      return false;
  }
}

// Whether a server message with tag ends the answer to client_tag.
bool Ends(char client_tag, char tag) {
  switch (client_tag) {
    case 0:
    case frontend::kQuery:
    case frontend::kFunctionCall:
    case frontend::kSync:
      return tag == backend::kReadyForQuery;
    case frontend::kDescribe:
      return tag == backend::kRowDescription || tag == backend::kNoData;
    case frontend::kExecute:
      return tag == backend::kCommandComplete || tag == backend::kEmptyQueryResponse ||
             tag == backend::kPortalSuspended;
    default:
      return true;  // ParseComplete, BindComplete, CloseComplete
  }
}

// Client messages whose record is made when they are answered.
bool MakesRecord(char tag) {
  return tag == frontend::kQuery || tag == frontend::kFunctionCall || tag == frontend::kExecute;
}

}  // namespace

std::string Connection::keep(std::string_view text) const {
  if (text.size() <= limits_.max_text_kept) return std::string(text);
  ++stats_->cut;
  return std::string(text.substr(0, limits_.max_text_kept));
}

std::string Connection::statement_text(const std::string& portal) const {
  auto found = portals_.find(portal);
  return found == portals_.end() ? std::string() : found->second;
}

void Connection::wait_for(Waiting w) {
  if (waiting_.size() >= limits_.max_waiting) {
    ++stats_->overflows;
    return;
  }
  waiting_.push_back(std::move(w));
}

void Connection::on_client_message(const Message& m) {
  Waiting w;
  w.tag = m.tag;
  w.request_bytes = m.wire_size();
  w.first_ts_ns = m.first_ts_ns;
  FieldReader r(m.payload);
  switch (m.tag) {
    case 0: {
      r.skip(4);  // the protocol version
      std::string user, database;
      while (r.ok()) {
        std::string_view key = r.cstring();
        if (key.empty()) break;
        std::string_view value = r.cstring();
        if (key == "user") user = value;
        if (key == "database") database = value;
      }
      w.text = keep(database.empty() ? user : database);  // the server's default
      break;
    }
    case frontend::kQuery:
      w.text = keep(r.cstring());
      break;
    case frontend::kParse:
      w.name = r.cstring();
      w.text = keep(r.cstring());
      break;
    case frontend::kBind:
      w.name = r.cstring();
      w.statement = r.cstring();
      break;
    case frontend::kDescribe:
    case frontend::kClose:
      w.kind = r.byte();
      w.name = r.cstring();
      break;
    case frontend::kExecute:
      w.name = r.cstring();
      break;
    case frontend::kFunctionCall:
    case frontend::kSync:
      break;
    default: {
      // No answer of their own (Flush, Terminate, passwords, COPY data):
      // their bytes count in the command they belong to.
      if (m.tag == frontend::kCopyData) ++stats_->copy_data;
      if (!skipping_ && !waiting_.empty()) {
        waiting_.back().request_bytes += m.wire_size();
      } else if (pending_) {
        pending_->request_bytes += m.wire_size();
      }
      return;
    }
  }
  if (skipping_ && m.tag != frontend::kSync) {
    // The server skips it: it counts in the failed record.
    if (pending_) pending_->request_bytes += m.wire_size();
    return;
  }
  if (m.tag == frontend::kSync) skipping_ = false;
  wait_for(std::move(w));
}

bool Connection::find_fit(char tag, size_t from, const RecordHandler& emit) {
  size_t at = from;
  while (at < waiting_.size() && !Fits(waiting_[at].tag, tag)) ++at;
  if (at == waiting_.size()) return false;
  // The answers to the ones before were lost (a gap in the server's direction).
  for (size_t i = 0; i < at; ++i) {
    Waiting w = std::move(waiting_.front());
    waiting_.pop_front();
    if (!MakesRecord(w.tag)) continue;
    emit_pending(emit);
    Record rec = make(w, client_message_name(w.tag));
    rec.target = w.tag == frontend::kExecute ? statement_text(w.name) : w.text;
    rec.error = "response lost";
    emit_now(std::move(rec), emit);
  }
  return true;
}

void Connection::on_server_message(const Message& m, const RecordHandler& emit) {
  const char tag = m.tag;
  if (tag == backend::kNoticeResponse || tag == backend::kParameterStatus ||
      tag == backend::kNotificationResponse) {
    // Any time: they belong to whatever is being answered.
    ++stats_->async;
    if (!waiting_.empty()) waiting_.front().response_bytes += m.wire_size();
    return;
  }
  if (tag == backend::kCopyData) ++stats_->copy_data;
  if (server_resync_ && !waiting_.empty()) {
    // The first message of the latest write sent before this one started.
    server_resync_ = false;
    size_t latest = 0;
    for (size_t i = 0; i < waiting_.size() && waiting_[i].first_ts_ns <= m.first_ts_ns; ++i) {
      if (waiting_[i].first_ts_ns != waiting_[latest].first_ts_ns) latest = i;
    }
    if (latest > 0) find_fit(tag, latest, emit);
  }
  if (waiting_.empty() || (!Fits(waiting_.front().tag, tag) && !find_fit(tag, 1, emit))) {
    ++stats_->unmatched;
    return;
  }
  Waiting& w = waiting_.front();
  w.response_bytes += m.wire_size();
  w.last_ts_ns = m.last_ts_ns;
  w.answered = true;
  w.cut |= m.lost;
  if (tag == backend::kDataRow) ++w.data_rows;
  if (tag == backend::kPortalSuspended) w.rows = w.data_rows;
  if (tag == backend::kCommandComplete) {
    FieldReader r(m.payload);
    int64_t rows = RowsOfCommandTag(r.cstring());
    if (rows >= 0) w.rows = (w.rows < 0 ? 0 : w.rows) + rows;
  }
  if (tag == backend::kErrorResponse) {
    ErrorFields e = ParseErrorFields(m.payload);
    if (w.tag == frontend::kSync) {
      // At Sync the implicit transaction commits: its error is the batch's.
      if (pending_ && pending_->status != kDbError) {
        pending_->status = kDbError;
        pending_->db_error_code = std::move(e.code);
        pending_->db_error_message = keep(e.message);
      }
      return;
    }
    if (!w.failed) {
      w.failed = true;
      w.error = std::move(e);
    }
    // A Query or FunctionCall goes on to ReadyForQuery; an extended-protocol
    // message fails now, and the server skips to Sync.
    if (w.tag == frontend::kQuery || w.tag == frontend::kFunctionCall) return;
    bool extended = w.tag != 0;
    complete(emit);
    if (extended) skip_to_sync();
    return;
  }
  if (Ends(w.tag, tag)) complete(emit);
}

void Connection::skip_to_sync() {
  while (!waiting_.empty() && waiting_.front().tag != frontend::kSync) {
    if (pending_) pending_->request_bytes += waiting_.front().request_bytes;
    waiting_.pop_front();
  }
  skipping_ = waiting_.empty();
}

void Connection::on_server_gap(bool framing_lost) {
  if (!waiting_.empty()) waiting_.front().cut = true;
  server_resync_ |= framing_lost;
}

Record Connection::make(const Waiting& w, std::string_view method) const {
  Record r;
  r.proto = Proto::kPostgres;
  r.method = method;
  r.request_bytes = carry_request_ + w.request_bytes;
  r.response_bytes = carry_response_ + w.response_bytes;
  r.ts_ns = carry_first_ts_ ? carry_first_ts_ : w.first_ts_ns;
  if (w.answered && w.last_ts_ns >= r.ts_ns) r.latency_ns = w.last_ts_ns - r.ts_ns;
  r.rows = w.rows;
  if (w.answered) r.status = w.failed ? kDbError : kDbOk;
  if (w.failed) {
    r.db_error_code = w.error.code;
    r.db_error_message = w.error.message.substr(0, limits_.max_text_kept);
  }
  if (w.cut) r.error = "response cut short by lost bytes";
  return r;
}

void Connection::emit_now(Record r, const RecordHandler& emit) {
  if (!r.error.empty()) ++stats_->errors;
  if (r.status == kDbError) ++stats_->db_errors;
  ++stats_->records;
  emit(std::move(r));
}

void Connection::emit_pending(const RecordHandler& emit) {
  if (!pending_) return;
  Record r = std::move(*pending_);
  pending_.reset();
  emit_now(std::move(r), emit);
}

void Connection::complete(const RecordHandler& emit) {
  Waiting w = std::move(waiting_.front());
  waiting_.pop_front();
  auto remember = [this](std::unordered_map<std::string, std::string>* map, const std::string& name,
                         std::string text) {
    if (map->size() >= limits_.max_statements && !map->contains(name)) {
      ++stats_->overflows;
      return;
    }
    (*map)[name] = std::move(text);
  };
  auto carry = [this, &w] {
    if (!carry_first_ts_) carry_first_ts_ = w.first_ts_ns;
    carry_request_ += w.request_bytes;
    carry_response_ += w.response_bytes;
  };
  auto hold = [&](Record r) {
    // Made, but the Sync after it (if any) still counts in it.
    emit_pending(emit);
    pending_ = std::move(r);
    carry_request_ = carry_response_ = carry_first_ts_ = 0;
  };
  switch (w.tag) {
    case 0:
      if (w.failed) {
        emit_pending(emit);
        Record r = make(w, "Startup");
        r.target = w.text;
        emit_now(std::move(r), emit);
      }
      return;
    case frontend::kQuery:
    case frontend::kFunctionCall: {
      emit_pending(emit);
      Record r = make(w, client_message_name(w.tag));
      r.target = w.text;
      carry_request_ = carry_response_ = carry_first_ts_ = 0;
      emit_now(std::move(r), emit);
      return;
    }
    case frontend::kSync:
      if (pending_) {
        pending_->request_bytes += w.request_bytes;
        pending_->response_bytes += w.response_bytes;
        if (w.last_ts_ns >= pending_->ts_ns) pending_->latency_ns = w.last_ts_ns - pending_->ts_ns;
        if (pending_->error.empty() && w.cut) pending_->error = "response cut short by lost bytes";
        emit_pending(emit);
      }
      // A batch that made no record (a Parse alone, say) is not one.
      carry_request_ = carry_response_ = carry_first_ts_ = 0;
      return;
    case frontend::kExecute: {
      Record r = make(w, "Execute");
      r.target = statement_text(w.name);
      if (r.rows < 0 && w.data_rows > 0) r.rows = w.data_rows;
      hold(std::move(r));
      return;
    }
    default:
      break;
  }
  // Parse, Bind, Describe, Close.
  std::string target;
  if (w.tag == frontend::kParse) {
    target = w.text;
    if (!w.failed) remember(&statements_, w.name, w.text);
  } else if (w.tag == frontend::kBind) {
    auto found = statements_.find(w.statement);
    if (found != statements_.end()) target = found->second;
    if (!w.failed) remember(&portals_, w.name, target);
  } else if (w.kind == 'S') {
    auto found = statements_.find(w.name);
    if (found != statements_.end()) target = found->second;
    if (!w.failed && w.tag == frontend::kClose) statements_.erase(w.name);
  } else {
    target = statement_text(w.name);
    if (!w.failed && w.tag == frontend::kClose) portals_.erase(w.name);
  }
  if (!w.failed) {
    carry();
    return;
  }
  Record r = make(w, client_message_name(w.tag));
  r.target = std::move(target);
  hold(std::move(r));
}

void Connection::close(const RecordHandler& emit) {
  emit_pending(emit);
  while (!waiting_.empty()) {
    Waiting w = std::move(waiting_.front());
    waiting_.pop_front();
    if (!MakesRecord(w.tag)) continue;
    Record r = make(w, client_message_name(w.tag));
    if (w.tag == frontend::kExecute) {
      r.target = statement_text(w.name);
    } else {
      r.target = w.text;
    }
    r.error = w.answered ? "response cut short by the connection's end" : "no response";
    emit_now(std::move(r), emit);
  }
}

}  // namespace tlstap::protocols::pgsql
