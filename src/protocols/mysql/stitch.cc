#include "protocols/mysql/stitch.h"

#include <algorithm>
#include <utility>

namespace tlstap::protocols::mysql {
namespace {

uint32_t le32(std::string_view b) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(b[i])) << (8 * i);
  return v;
}

bool HasNoResponse(int command) {
  return command == static_cast<int>(Command::kStmtClose) ||
         command == static_cast<int>(Command::kStmtSendLongData) ||
         command == static_cast<int>(Command::kQuit);
}

bool IsStatementCommand(int command) {
  switch (static_cast<Command>(command)) {
    case Command::kStmtExecute:
    case Command::kStmtSendLongData:
    case Command::kStmtClose:
    case Command::kStmtReset:
    case Command::kStmtFetch:
    case Command::kStmtBulkExecute:
      return true;
    default:
      return false;
  }
}

void AddRows(int64_t* rows, uint64_t n) {
  *rows = std::max<int64_t>(*rows, 0) + static_cast<int64_t>(n);
}

}  // namespace

std::string Conversation::statement(uint32_t id) const {
  if (id == kLastPreparedStatement) id = last_prepared_;
  auto found = prepared_.find(id);
  return found == prepared_.end() ? std::string() : found->second;
}

void Conversation::on_request(const Packet& p, const RecordHandler& emit) {
  if (phase_ == Phase::kStart && p.seq != 0) {
    std::optional<uint32_t> caps = ParseHandshakeResponseCapabilities(p.payload);
    if (!caps) {
      ++stats_->invalid;
      phase_ = Phase::kCommand;
      return;
    }
    deprecate_eof_ = (*caps & kClientDeprecateEof) != 0;
    compressed_ = (*caps & kClientCompress) != 0;
    query_attributes_ = (*caps & kClientQueryAttributes) != 0;
    phase_ = Phase::kAuth;
    return;
  }
  if (phase_ != Phase::kCommand) {
    if (p.seq != 0) return;    // authentication data
    phase_ = Phase::kCommand;  // the end of authentication was not seen
  }
  if (p.seq != 0) {
    // LOCAL INFILE contents, COM_CHANGE_USER authentication: part of the
    // command being answered.
    if (!pending_.empty()) pending_.front().request_bytes += p.wire_size;
    return;
  }
  start_command(p, emit);
}

void Conversation::start_command(const Packet& p, const RecordHandler& emit) {
  Exchange c;
  c.command = p.first_byte();
  c.request_bytes = p.wire_size;
  c.first_ts_ns = p.first_ts_ns;
  c.request_cut = p.cut;
  if (c.command < 0) {
    ++stats_->invalid;
    return;
  }
  std::string_view body = std::string_view(p.payload).substr(1);
  switch (static_cast<Command>(c.command)) {
    case Command::kQuery:
      if (query_attributes_) {
        // MySQL 8: a parameter count and a parameter set count (1) first;
        // with parameters, their types, names and values too, not read.
        if (body.size() >= 2 && body[0] == 0) {
          body.remove_prefix(2);
        } else {
          body = {};
        }
      }
      [[fallthrough]];
    case Command::kStmtPrepare:
    case Command::kInitDb:
      c.target = body;
      if (p.payload_size > p.payload.size() && !p.cut) ++stats_->overflows;  // cut to the limit
      break;
    case Command::kFieldList:
      c.target = body.substr(0, body.find('\0'));
      break;
    default:
      if (IsStatementCommand(c.command) && body.size() >= 4) c.statement_id = le32(body);
      break;
  }
  if (skip_responses_) commands_since_skip_ = true;
  if (HasNoResponse(c.command)) {
    if (c.command == static_cast<int>(Command::kStmtClose) && c.statement_id) {
      c.target = statement(*c.statement_id);
      prepared_.erase(*c.statement_id);
      c.statement_id.reset();
    }
    finish(&c, "", emit);
    return;
  }
  if (pending_.size() >= limits_.max_pending) {
    ++stats_->overflows;
    finish(&pending_.front(), "no response", emit);
    pending_.pop_front();
  }
  pending_.push_back(std::move(c));
}

void Conversation::on_response(const Packet& p, const RecordHandler& emit) {
  if (phase_ == Phase::kStart) phase_ = p.seq == 1 ? Phase::kCommand : Phase::kAuth;
  if (phase_ == Phase::kAuth) {
    // The authentication ends with an OK (or an ERR, and the connection closes).
    int b = p.first_byte();
    if (b == kOkHeader || b == kErrHeader) phase_ = Phase::kCommand;
    return;
  }
  if (skip_responses_) {
    if (!commands_since_skip_ || p.seq != 1) {
      stats_->skipped_bytes += p.wire_size;
      return;
    }
    // The response to the newest command: those before it lost theirs.
    skip_responses_ = commands_since_skip_ = false;
    while (pending_.size() > 1) {
      finish(&pending_.front(), "response lost", emit);
      pending_.pop_front();
    }
  }
  // A response starting while another is in progress (sequence id 1 where
  // that one's next is not 1; ids wrap at 256): that one ended unnoticed
  // (it waited for an EOF that CLIENT_DEPRECATE_EOF left out), or was not
  // what its command makes it.
  if (p.seq == 1 && pending_.size() > 1 && pending_.front().responded &&
      pending_.front().next_seq != 1) {
    Exchange& c = pending_.front();
    if (c.stage == Stage::kPrepColumnsEof || c.stage == Stage::kParamsEof) {
      deprecate_eof_ = true;
      c.status = kDbOk;
      finish(&c, "", emit);
    } else {
      ++stats_->invalid;
      c.status = 0;
      finish(&c, "response not understood", emit);
    }
    pending_.pop_front();
  }
  if (pending_.empty()) {
    if (p.seq != 1) {
      // Not the start of a response: the request and the start were missed.
      stats_->skipped_bytes += p.wire_size;
      skip_responses_ = true;
      commands_since_skip_ = false;
      return;
    }
    pending_.emplace_back();  // its request was not captured
  }
  Exchange& c = pending_.front();
  if (!c.responded) c.response_first_ts_ns = p.first_ts_ns;
  c.responded = true;
  c.next_seq = static_cast<uint8_t>(p.last_seq + 1);
  c.response_bytes += p.wire_size;
  c.last_ts_ns = p.last_ts_ns;
  c.response_cut |= p.cut;
  if (!advance(&c, p)) {
    if (c.status == -1) confused(emit);
    return;
  }
  finish(&c, c.command < 0 ? "request not captured" : "", emit);
  pending_.pop_front();
}

Conversation::Stage Conversation::after_columns() const {
  return deprecate_eof_ == true ? Stage::kRows : Stage::kColumnsEof;
}

bool Conversation::ends_rows(const Packet& p) const {
  if (p.first_byte() != kEofHeader) return false;
  // A row may start with 0xfe too (a string longer than 16 MiB), but is
  // then longer than any EOF or OK.
  return deprecate_eof_ == false ? p.payload_size < 9 : p.payload_size < kMaxPacketLength;
}

bool Conversation::advance(Exchange* c, const Packet& p) {
  const int b = p.first_byte();
  std::string_view payload = p.payload;
  const bool eof = b == kEofHeader && p.payload_size < 9;
  if (b == kErrHeader && c->stage != Stage::kColumns && c->stage != Stage::kParams &&
      c->stage != Stage::kPrepColumns) {
    std::optional<Err> err = ParseErr(payload);
    if (err && err->code == 0xffff) return false;  // MariaDB's progress report
    c->status = kDbError;
    if (err) {
      c->error_code = std::to_string(err->code);
      c->error_message = err->message;
    }
    return true;
  }
  switch (c->stage) {
    case Stage::kFirst: {
      switch (static_cast<Command>(c->command)) {
        case Command::kStatistics:
          c->status = kDbOk;
          return true;
        case Command::kStmtFetch:
          c->stage = Stage::kRows;
          return advance(c, p);
        case Command::kFieldList:
          c->stage = Stage::kFieldList;
          return advance(c, p);
        case Command::kChangeUser:
          c->stage = Stage::kAuth;
          return advance(c, p);
        default:
          break;
      }
      if (b == kOkHeader) {
        if (c->command == static_cast<int>(Command::kStmtPrepare)) {
          std::optional<PrepareOk> ok = ParsePrepareOk(payload);
          if (!ok) break;
          if (prepared_.size() < limits_.max_prepared || prepared_.count(ok->statement_id)) {
            prepared_[ok->statement_id] = c->target;
          } else {
            ++stats_->overflows;
          }
          last_prepared_ = ok->statement_id;
          c->status = kDbOk;
          c->prep_columns = ok->columns;
          c->remaining = ok->params;
          if (ok->params > 0) {
            c->stage = Stage::kParams;
            return false;
          }
          if (ok->columns > 0) {
            c->stage = Stage::kPrepColumns;
            c->remaining = ok->columns;
            return false;
          }
          return true;
        }
        std::optional<Ok> ok = ParseOk(payload);
        if (!ok) break;
        AddRows(&c->rows, ok->affected_rows);
        c->status = kDbOk;
        return !(ok->status & kServerMoreResultsExist);
      }
      if (b == kLocalInfileHeader && c->command == static_cast<int>(Command::kQuery)) {
        c->stage = Stage::kInfile;
        return false;
      }
      if (b == kEofHeader && p.payload_size < 9) {  // COM_SET_OPTION, COM_DEBUG
        c->status = kDbOk;
        return true;
      }
      // A result set: the column count, and with MariaDB's metadata
      // caching one more byte saying whether the definitions follow.
      std::string_view rest = payload;
      std::optional<uint64_t> columns = ReadLenenc(&rest);
      if (!columns || *columns == 0 || rest.size() > 1 || p.cut) break;
      bool definitions = rest.empty() || rest[0] != 0;
      c->remaining = definitions ? *columns : 0;
      c->stage = c->remaining ? Stage::kColumns : after_columns();
      // Rows add up over the results of one command (a multi-statement, a
      // CALL): those of earlier result sets and OKs are kept.
      AddRows(&c->rows, 0);
      return false;
    }
    case Stage::kColumns:
      if (--c->remaining == 0) c->stage = after_columns();
      return false;
    case Stage::kColumnsEof:
      if (eof) {
        deprecate_eof_ = false;
        std::optional<uint16_t> status = ParseEofStatus(payload);
        // A cursor was opened: the rows come with COM_STMT_FETCH.
        if (status && (*status & kServerStatusCursorExists) &&
            c->command == static_cast<int>(Command::kStmtExecute)) {
          c->status = kDbOk;
          return true;
        }
        c->stage = Stage::kRows;
        return false;
      }
      deprecate_eof_ = true;  // no EOF: rows (or the OK ending them) follow the definitions
      c->stage = Stage::kRows;
      return advance(c, p);
    case Stage::kRows: {
      if (!ends_rows(p)) {
        AddRows(&c->rows, 1);
        return false;
      }
      std::optional<uint16_t> status =
          eof ? ParseEofStatus(payload) : [&]() -> std::optional<uint16_t> {
        std::optional<Ok> ok = ParseOk(payload);
        return ok ? std::optional<uint16_t>(ok->status) : std::nullopt;
      }();
      if (c->rows < 0) c->rows = 0;
      c->status = kDbOk;
      if (status && (*status & kServerMoreResultsExist)) {
        c->stage = Stage::kFirst;
        return false;
      }
      return true;
    }
    case Stage::kParams:
      if (--c->remaining > 0) return false;
      if (deprecate_eof_ != true) {
        c->stage = Stage::kParamsEof;
        return false;
      }
      c->stage = Stage::kPrepColumns;
      c->remaining = c->prep_columns;
      return c->remaining == 0;
    case Stage::kParamsEof:
      c->stage = Stage::kPrepColumns;
      c->remaining = c->prep_columns;
      if (eof) {
        deprecate_eof_ = false;
        return c->remaining == 0;
      }
      deprecate_eof_ = true;
      if (c->remaining == 0) break;  // nothing may follow
      return advance(c, p);
    case Stage::kPrepColumns:
      if (--c->remaining > 0) return false;
      if (deprecate_eof_ == true) return true;
      c->stage = Stage::kPrepColumnsEof;
      return false;
    case Stage::kPrepColumnsEof:
      if (!eof) break;
      deprecate_eof_ = false;
      return true;
    case Stage::kInfile:
      if (b == kOkHeader) {
        std::optional<Ok> ok = ParseOk(payload);
        if (ok) AddRows(&c->rows, ok->affected_rows);
        c->status = kDbOk;
        if (ok && (ok->status & kServerMoreResultsExist)) {
          c->stage = Stage::kFirst;
          return false;
        }
        return true;
      }
      break;
    case Stage::kFieldList:
      if (b == kEofHeader && p.payload_size < kMaxPacketLength) {
        c->status = kDbOk;
        return true;
      }
      return false;
    case Stage::kAuth:
      if (b == kOkHeader) {
        c->status = kDbOk;
        return true;
      }
      return false;
  }
  c->status = -1;  // not what this command's response holds here
  return false;
}

void Conversation::confused(const RecordHandler& emit) {
  ++stats_->invalid;
  Exchange& c = pending_.front();
  c.status = 0;
  finish(&c, "response not understood", emit);
  pending_.pop_front();
  skip_responses_ = true;
  commands_since_skip_ = false;
}

void Conversation::on_responses_lost(const RecordHandler& emit) {
  if (!pending_.empty() && pending_.front().responded) {
    finish(&pending_.front(), "response bytes lost", emit);
    pending_.pop_front();
  }
  skip_responses_ = true;
  commands_since_skip_ = false;
}

void Conversation::close(const RecordHandler& emit) {
  for (Exchange& c : pending_) finish(&c, c.responded ? "response cut short" : "no response", emit);
  pending_.clear();
}

void Conversation::finish(Exchange* c, std::string error, const RecordHandler& emit) {
  Record r;
  r.proto = Proto::kMysql;
  if (c->command >= 0) {
    std::string_view name = command_name(static_cast<uint8_t>(c->command));
    if (name.empty()) {
      static constexpr char kHex[] = "0123456789abcdef";
      r.method = std::string("COM_0x") + kHex[c->command >> 4] + kHex[c->command & 15];
    } else {
      r.method = name;
    }
  }
  r.target = c->statement_id ? statement(*c->statement_id) : std::move(c->target);
  r.status = c->status > 0 ? c->status : 0;
  r.rows = c->rows;
  r.db_error_code = std::move(c->error_code);
  r.db_error_message = std::move(c->error_message);
  r.request_bytes = c->request_bytes;
  r.response_bytes = c->response_bytes;
  r.ts_ns = c->command >= 0 ? c->first_ts_ns : c->response_first_ts_ns;
  if (c->command >= 0 && c->responded && c->last_ts_ns >= c->first_ts_ns)
    r.latency_ns = c->last_ts_ns - c->first_ts_ns;
  if (error.empty() && c->request_cut) error = "request cut short by lost bytes";
  if (error.empty() && c->response_cut) error = "response cut short by lost bytes";
  r.error = std::move(error);
  ++stats_->records;
  if (!r.error.empty()) ++stats_->errors;
  emit(std::move(r));
}

}  // namespace tlstap::protocols::mysql
