#include "protocols/http1/parse.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <optional>
#include <utility>

namespace tlstap::protocols::http1 {
namespace {

// The methods a resynchronising parser accepts as a message start while
// its request line is not complete yet. Any other method (as registered
// ones are spelled: capitals, digits, '-', '_') is a start once the line is
// whole and reads `METHOD SP target SP HTTP/1.x`. After a message, any
// token is a method.
constexpr std::array<std::string_view, 9> kMethods = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};

// A method is any RFC 9110 token; longer ones than this are not taken for one.
constexpr size_t kMaxMethod = 256;
// What http-parser is given for a method it does not know (it knows only
// its own list): one with no meaning for framing. The record keeps the token.
constexpr std::string_view kStandInMethod = "GET";

// Bytes needed to tell a message start: "HTTP/1.1 200", "OPTIONS /".
constexpr size_t kStartLen = 12;
// How far to look for the end of a request line to check its version.
constexpr size_t kMaxStartLine = 8192;
// Methods of requests waiting for their response; a peer that never answers
// must not grow it without end.
constexpr size_t kMaxWaitingMethods = 1024;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// RFC 9110 5.6.2: tchar.
bool is_tchar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// The length of the token at the start of s (0 when there is none).
size_t token_length(std::string_view s) {
  size_t n = 0;
  while (n < s.size() && n < kMaxMethod && is_tchar(s[n])) ++n;
  return n;
}

bool ends_with_version(std::string_view line) {
  return line.ends_with(" HTTP/1.1") || line.ends_with(" HTTP/1.0");
}

// Spelled as registered methods are; a start found in the middle of other
// bytes needs that much more evidence than any token.
bool is_conventional_method(std::string_view method) {
  return !method.empty() && method[0] >= 'A' && method[0] <= 'Z' &&
         std::all_of(method.begin(), method.end(), [](char c) {
           return (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' || c == '_';
         });
}

// A whole request line: METHOD SP target SP HTTP/1.x.
bool is_request_line(std::string_view line) {
  size_t method = token_length(line);
  if (method == 0 || method >= line.size() || line[method] != ' ' || !ends_with_version(line) ||
      !is_conventional_method(line.substr(0, method)))
    return false;
  std::string_view target = line.substr(method + 1, line.size() - method - 1 - 9);
  return !target.empty() && target.find(' ') == std::string_view::npos;
}

// Whether http-parser knows this method (it refuses the others).
bool parser_knows(std::string_view method) {
  for (int m = 0;; ++m) {
    std::string_view name = http_method_str(static_cast<http_method>(m));
    if (name == "<unknown>") return false;
    if (name == method) return true;
  }
}

bool looks_like_start(MessageType type, std::string_view s) {
  if (type == MessageType::kResponse) {
    return s.size() >= kStartLen && (s.starts_with("HTTP/1.1 ") || s.starts_with("HTTP/1.0 ")) &&
           is_digit(s[9]) && is_digit(s[10]) && is_digit(s[11]);
  }
  size_t eol = s.substr(0, kMaxStartLine).find('\n');
  if (eol != std::string_view::npos) {
    std::string_view line = s.substr(0, eol);
    if (line.ends_with('\r')) line.remove_suffix(1);
    return is_request_line(line);
  }
  // The line goes on in later bytes: a known method so far.
  for (std::string_view method : kMethods) {
    if (s.size() > method.size() + 1 && s.starts_with(method) && s[method.size()] == ' ' &&
        s[method.size() + 1] != ' ')
      return true;
  }
  return false;
}

Parser* self(http_parser* p) { return static_cast<Parser*>(p->data); }

}  // namespace

size_t FindFrameBoundary(MessageType type, std::string_view buf, size_t start) {
  size_t i = start;
  while (i < buf.size()) {
    if ((i == 0 || buf[i - 1] == '\n') && looks_like_start(type, buf.substr(i))) return i;
    size_t nl = buf.find('\n', i);
    if (nl == std::string_view::npos) break;
    i = nl + 1;
  }
  return std::string_view::npos;
}

Parser::Parser(MessageType type, ConnState* conn) : type_(type), conn_(conn) {
  http_parser_settings_init(&settings_);
  settings_.on_message_begin = &Parser::on_message_begin;
  settings_.on_url = &Parser::on_url;
  settings_.on_status = &Parser::on_status;
  settings_.on_header_field = &Parser::on_header_field;
  settings_.on_header_value = &Parser::on_header_value;
  settings_.on_headers_complete = &Parser::on_headers_complete;
  settings_.on_body = &Parser::on_body;
  settings_.on_message_complete = &Parser::on_message_complete;
  restart();
}

void Parser::restart() {
  http_parser_init(&parser_, type_ == MessageType::kRequest ? HTTP_REQUEST : HTTP_RESPONSE);
  parser_.data = this;
  cur_ = Message{};
  cur_.type = type_;
  method_.clear();
  started_ = headers_done_ = complete_ = method_fed_ = false;
  last_was_value_ = true;
}

ParseState Parser::ParseFrame(std::string_view* buf, Message* msg) {
  if (buf->empty()) return ParseState::kNeedsMoreData;
  if (ended_ || conn_->upgraded) {
    if (!ended_) restart();  // the other direction switched: what was in progress is not HTTP
    ended_ = true;
    ignored_bytes_ += buf->size();
    buf->remove_prefix(buf->size());
    return ParseState::kEndOfStream;
  }
  if (resync_) {
    size_t before = buf->size();
    resync(buf);
    // Still looking, or skipped up to a start: the next call parses from there.
    if (resync_ || buf->size() != before) return ParseState::kIgnored;
  }
  return execute(buf, msg);
}

bool Parser::resync(std::string_view* buf) {
  if (!carry_.empty()) {
    // A start split between the last call's bytes and these.
    std::string window = carry_;
    window.append(buf->substr(0, kStartLen));
    size_t at = FindFrameBoundary(type_, window, 0);
    if (at < carry_.size()) {
      std::string head = carry_.substr(at);
      carry_.clear();
      skipped_bytes_ -= head.size();  // counted as skipped when carried; they are parsed now
      resync_ = false;
      std::string_view head_view = head;
      Message unused;
      // Too short to finish a message: kNeedsMoreData, or kInvalid (which
      // sets resync_ again; carry_ is empty, so the next call progresses).
      execute(&head_view, &unused);
      return !resync_;
    }
  }
  size_t at = FindFrameBoundary(type_, *buf, at_line_start_ && carry_.empty() ? 0 : 1);
  if (at != std::string_view::npos) {
    skipped_bytes_ += at;
    buf->remove_prefix(at);
    carry_.clear();
    resync_ = false;
    return true;
  }
  skipped_bytes_ += buf->size();
  // Keep the unfinished last line if it could still become a start.
  size_t nl = buf->rfind('\n');
  if (nl != std::string_view::npos) {
    carry_.assign(buf->substr(nl + 1));
    at_line_start_ = true;
  } else if (at_line_start_) {
    carry_.append(*buf);
  }
  if (carry_.size() >= kStartLen) {
    carry_.clear();
    at_line_start_ = false;
  }
  buf->remove_prefix(buf->size());
  return false;
}

std::optional<ParseState> Parser::take_method(std::string_view* buf) {
  while (!buf->empty()) {
    char c = buf->front();
    if (method_.empty() && (c == '\r' || c == '\n')) {
      // Empty lines before a request line (RFC 9112 2.2), counted with it
      // as http-parser counts them.
      ++cur_.wire_size;
      buf->remove_prefix(1);
      continue;
    }
    if (c == ' ' && !method_.empty()) {
      // http-parser parses the rest; a method it does not know is handed
      // to it as a stand-in.
      std::string_view fed = parser_knows(method_) ? std::string_view(method_) : kStandInMethod;
      size_t n = http_parser_execute(&parser_, &settings_, fed.data(), fed.size());
      if (n != fed.size() || HTTP_PARSER_ERRNO(&parser_) != HPE_OK) return fail(buf, 0);
      cur_.wire_size += method_.size();
      method_fed_ = true;
      return std::nullopt;
    }
    if (!is_tchar(c) || method_.size() >= kMaxMethod) return fail(buf, 0);
    if (method_.empty()) {
      started_ = true;
      cur_.first_ts_ns = ts_ns_;
    }
    method_.push_back(c);
    buf->remove_prefix(1);
  }
  return ParseState::kNeedsMoreData;
}

ParseState Parser::execute(std::string_view* buf, Message* msg) {
  complete_ = false;
  if (type_ == MessageType::kRequest && !method_fed_) {
    if (std::optional<ParseState> state = take_method(buf)) return *state;
  }
  size_t n = http_parser_execute(&parser_, &settings_, buf->data(), buf->size());
  if (complete_) {  // paused in on_message_complete, right after the message's last byte
    cur_.wire_size += n;
    buf->remove_prefix(n);
    return complete(msg);
  }
  if (HTTP_PARSER_ERRNO(&parser_) != HPE_OK) return fail(buf, n);
  cur_.wire_size += n;
  buf->remove_prefix(n);
  return ParseState::kNeedsMoreData;
}

ParseState Parser::fail(std::string_view* buf, size_t good) {
  ++invalid_;
  size_t bad = std::min(std::max<size_t>(good, 1), buf->size());
  buf->remove_prefix(bad);
  bool switched = type_ == MessageType::kRequest && conn_->upgrade_requested;
  restart();
  if (switched) {
    // Not HTTP after a request to switch protocols: the server agreed
    // (its 101 was not parsed yet) and these are the new protocol's bytes.
    ended_ = true;
    ignored_bytes_ += bad + buf->size();
    buf->remove_prefix(buf->size());
    return ParseState::kEndOfStream;
  }
  resync_ = true;
  at_line_start_ = false;
  carry_.clear();
  return ParseState::kInvalid;
}

ParseState Parser::complete(Message* msg) {
  cur_.last_ts_ns = ts_ns_;
  int status = parser_.status_code;
  uint8_t method = parser_.method;
  bool upgrade = parser_.upgrade || (type_ == MessageType::kResponse && status == 101);
  Message done = std::move(cur_);
  done.upgrade = upgrade;
  restart();
  if (type_ == MessageType::kRequest) {
    conn_->request_methods.push_back(method);
    if (conn_->request_methods.size() > kMaxWaitingMethods) conn_->request_methods.pop_front();
    if (upgrade) conn_->upgrade_requested = true;
  } else {
    if (status / 100 == 1 && status != 101) {
      // 100 Continue, 103 Early Hints: the final response is still to come.
      ++interim_responses_;
      *msg = std::move(done);
      return ParseState::kIgnored;
    }
    if (!conn_->request_methods.empty()) conn_->request_methods.pop_front();
    if (upgrade) {
      conn_->upgraded = true;
      ended_ = true;
    } else {
      conn_->upgrade_requested = false;  // refused: HTTP/1 goes on
    }
  }
  done.after_gap = std::exchange(after_gap_, false);
  *msg = std::move(done);
  return ParseState::kSuccess;
}

std::optional<Message> Parser::on_gap() {
  std::optional<Message> cut;
  if (started_ && headers_done_ && !ended_) {
    cur_.truncated = true;
    cur_.cut_by = Cut::kLostBytes;
    cur_.last_ts_ns = ts_ns_;
    cut = std::move(cur_);
    cut->after_gap = std::exchange(after_gap_, false);
  }
  restart();
  // Which requests the lost bytes held or answered is unknown: HEAD
  // responses are recognised again from the next request on.
  conn_->request_methods.clear();
  if (!ended_) {
    resync_ = true;
    after_gap_ = true;
    at_line_start_ = true;  // messages usually start a call's bytes
    carry_.clear();
  }
  return cut;
}

std::optional<Message> Parser::on_close() {
  std::optional<Message> last;
  if (ended_ || !started_) {
    restart();
    return last;
  }
  complete_ = false;
  http_parser_execute(&parser_, &settings_, nullptr,
                      0);  // end of input: ends a close-delimited body
  if (complete_) {
    Message msg;
    if (complete(&msg) == ParseState::kSuccess) last = std::move(msg);
    return last;
  }
  if (headers_done_) {
    // Its length said more was to come (up to what 64 bits hold): no byte
    // was lost, the connection ended first.
    cur_.truncated = true;
    cur_.cut_by = Cut::kConnectionEnd;
    cur_.last_ts_ns = ts_ns_;
    last = std::move(cur_);
    last->after_gap = std::exchange(after_gap_, false);
  }
  restart();
  return last;
}

int Parser::on_message_begin(http_parser* p) {
  Parser* s = self(p);
  s->started_ = true;
  if (s->type_ == MessageType::kResponse) s->cur_.first_ts_ns = s->ts_ns_;  // requests: take_method
  return 0;
}

int Parser::on_url(http_parser* p, const char* at, size_t len) {
  self(p)->cur_.target.append(at, len);
  return 0;
}

int Parser::on_status(http_parser* p, const char* at, size_t len) {
  self(p)->cur_.reason.append(at, len);
  return 0;
}

int Parser::on_header_field(http_parser* p, const char* at, size_t len) {
  Parser* s = self(p);
  Headers& h = s->headers_done_ ? s->cur_.trailers : s->cur_.headers;
  if (s->last_was_value_ || h.empty()) h.emplace_back();
  h.back().first.append(at, len);
  s->last_was_value_ = false;
  return 0;
}

int Parser::on_header_value(http_parser* p, const char* at, size_t len) {
  Parser* s = self(p);
  Headers& h = s->headers_done_ ? s->cur_.trailers : s->cur_.headers;
  if (h.empty()) h.emplace_back();
  h.back().second.append(at, len);
  s->last_was_value_ = true;
  return 0;
}

int Parser::on_headers_complete(http_parser* p) {
  Parser* s = self(p);
  Message& m = s->cur_;
  s->headers_done_ = true;
  s->last_was_value_ = true;
  m.version_minor = p->http_minor;
  m.chunked = (p->flags & F_CHUNKED) != 0;
  if (s->type_ == MessageType::kRequest) {
    m.method = s->method_;  // the token as sent, known to http-parser or not
    return 0;
  }
  m.status = p->status_code;
  // RFC 9112 6.3: 1xx, 204 and 304 end at the empty line whatever their
  // headers say (a 304 carries the cached body's Content-Length). 101's
  // switch is http-parser's own business.
  if (m.status == 204 || m.status == 304 || (m.status / 100 == 1 && m.status != 101)) return 1;
  if (m.status == 101 || s->conn_->request_methods.empty()) return 0;
  uint8_t method = s->conn_->request_methods.front();
  if (method == HTTP_HEAD) return 1;                            // headers only, whatever they say
  if (method == HTTP_CONNECT && m.status / 100 == 2) return 2;  // a tunnel from here on
  return 0;
}

int Parser::on_body(http_parser* p, const char* at, size_t len) {
  Message& m = self(p)->cur_;
  m.body_size += len;
  if (m.body.size() < kMaxBodyKept) m.body.append(at, std::min(len, kMaxBodyKept - m.body.size()));
  return 0;
}

int Parser::on_message_complete(http_parser* p) {
  self(p)->complete_ = true;
  http_parser_pause(p, 1);  // one message per ParseFrame: stop right after its last byte
  return 0;
}

}  // namespace tlstap::protocols::http1
