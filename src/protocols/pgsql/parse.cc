#include "protocols/pgsql/parse.h"

#include <algorithm>
#include <utility>

namespace tlstap::protocols::pgsql {
namespace {

uint32_t be32(std::string_view b) {
  return static_cast<uint32_t>(static_cast<uint8_t>(b[0])) << 24 |
         static_cast<uint32_t>(static_cast<uint8_t>(b[1])) << 16 |
         static_cast<uint32_t>(static_cast<uint8_t>(b[2])) << 8 | static_cast<uint8_t>(b[3]);
}

// Whether length is possible for a message with this tag in this direction:
// the fixed-size messages have exactly their size, the others at least 4.
bool PlausibleLength(bool client, char tag, uint32_t length) {
  if (length < 4 || length > kMaxMessageLength) return false;
  if (client) {
    switch (tag) {
      case frontend::kSync:
      case frontend::kFlush:
      case frontend::kTerminate:
      case frontend::kCopyDone:
        return length == 4;
      case frontend::kQuery:
        return length >= 5;  // at least the NUL
      default:
        return true;
    }
  }
  switch (tag) {
    case backend::kParseComplete:
    case backend::kBindComplete:
    case backend::kCloseComplete:
    case backend::kNoData:
    case backend::kEmptyQueryResponse:
    case backend::kPortalSuspended:
    case backend::kCopyDone:
      return length == 4;
    case backend::kReadyForQuery:
      return length == 5;
    case backend::kBackendKeyData:
      return length == 12;
    case backend::kAuthentication:
      return length >= 8;
    case backend::kCommandComplete:
    case backend::kErrorResponse:
    case backend::kNoticeResponse:
      return length >= 5;
    default:
      return true;
  }
}

bool PlausibleHeader(bool client, std::string_view b) {
  char tag = b[0];
  if (!(client ? IsClientTag(tag) : IsServerTag(tag))) return false;
  return PlausibleLength(client, tag, be32(b.substr(1)));
}

}  // namespace

Opening ClassifyOpening(std::string_view b) {
  if (b.empty()) return Opening::kNeedMore;
  if (b[0] == 0) {
    // StartupMessage: int32 length (8 to kMaxStartupLength, so its first
    // two bytes are zero), int32 version: major 3 in the high half.
    static constexpr char kPrefix[] = {0, 0, -1, -1, 0, kProtocolMajor3};  // -1: any
    size_t n = std::min(b.size(), sizeof(kPrefix));
    for (size_t i = 0; i < n; ++i) {
      if (kPrefix[i] != -1 && b[i] != kPrefix[i]) return Opening::kNo;
    }
    if (b.size() < 8) return Opening::kNeedMore;
    uint32_t length = be32(b);
    return length >= 8 && length <= kMaxStartupLength ? Opening::kClient : Opening::kNo;
  }
  if (b[0] == backend::kAuthentication) {
    // Authentication: 'R', int32 length (8 and more, small), int32 code:
    // 0 ok, 2 Kerberos, 3 cleartext, 5 MD5, 6 SCM, 7 GSS, 8 GSS continue,
    // 9 SSPI, 10 SASL, 11 SASL continue, 12 SASL final.
    static constexpr char kPrefix[] = {'R', 0, 0};
    size_t n = std::min(b.size(), sizeof(kPrefix));
    if (b.substr(0, n) != std::string_view(kPrefix, n)) return Opening::kNo;
    if (b.size() < 9) return Opening::kNeedMore;
    uint32_t length = be32(b.substr(1));
    uint32_t code = be32(b.substr(5));
    bool known = code == 0 || (code >= 2 && code <= 12 && code != 4);
    return length >= 8 && length <= kMaxStartupLength && known ? Opening::kServer : Opening::kNo;
  }
  return Opening::kNo;
}

size_t FindFrameBoundary(bool client, std::string_view buf, size_t start) {
  for (size_t i = start; i + kHeaderSize <= buf.size(); ++i) {
    if (!PlausibleHeader(client, buf.substr(i))) continue;
    uint64_t next = i + 1 + static_cast<uint64_t>(be32(buf.substr(i + 1)));
    if (next + kHeaderSize <= buf.size() && !PlausibleHeader(client, buf.substr(next))) continue;
    return i;
  }
  return std::string_view::npos;
}

bool MessageParser::keeps(char tag) const {
  if (client_) {
    switch (tag) {
      case 0:
      case frontend::kQuery:
      case frontend::kParse:
      case frontend::kBind:
      case frontend::kDescribe:
      case frontend::kExecute:
      case frontend::kClose:
        return true;
      default:
        return false;
    }
  }
  return tag == backend::kErrorResponse || tag == backend::kCommandComplete ||
         tag == backend::kReadyForQuery;
}

Message MessageParser::finish() {
  Message m = std::move(msg_);
  msg_ = Message{};
  header_.clear();
  stage_ = Stage::kHeader;
  return m;
}

ParseState MessageParser::ParseFrame(std::string_view* in, Message* out, uint64_t ts_ns) {
  while (true) {
    switch (stage_) {
      case Stage::kResync: {
        size_t at = FindFrameBoundary(client_, *in, 0);
        size_t skip = at == std::string_view::npos ? in->size() : at;
        if (skip == 0 && in->empty()) return ParseState::kNeedsMoreData;
        if (at != std::string_view::npos) stage_ = Stage::kHeader;
        if (skip == 0) break;
        skipped_bytes_ += skip;
        in->remove_prefix(skip);
        return ParseState::kIgnored;
      }
      case Stage::kStartup:
      case Stage::kHeader: {
        if (in->empty()) return ParseState::kNeedsMoreData;
        const bool startup = stage_ == Stage::kStartup;
        const size_t size = startup ? 4 : kHeaderSize;
        if (header_.empty()) msg_.first_ts_ns = ts_ns;
        size_t n = std::min(in->size(), size - header_.size());
        header_.append(in->substr(0, n));
        if (header_.size() < size) {
          in->remove_prefix(n);
          return ParseState::kNeedsMoreData;
        }
        msg_.tag = startup ? 0 : header_[0];
        msg_.length = be32(std::string_view(header_).substr(startup ? 0 : 1));
        bool valid = startup ? msg_.length >= 8 && msg_.length <= kMaxStartupLength
                             : PlausibleHeader(client_, header_);
        if (!valid) {
          // Nothing consumed: the bytes held so far are given back as
          // skipped, the ones in *in are searched again.
          ++invalid_;
          skipped_bytes_ += header_.size() - n;
          header_.clear();
          msg_ = Message{};
          stage_ = Stage::kResync;
          return ParseState::kInvalid;
        }
        in->remove_prefix(n);
        remaining_ = msg_.length - 4;
        keep_ = keeps(msg_.tag);
        if (keep_) msg_.payload.reserve(std::min<uint64_t>(remaining_, max_kept_));
        stage_ = Stage::kPayload;
        break;
      }
      case Stage::kPayload: {
        if (remaining_ > 0 && in->empty()) return ParseState::kNeedsMoreData;
        size_t n = static_cast<size_t>(std::min<uint64_t>(in->size(), remaining_));
        if (keep_) {
          size_t room = max_kept_ - std::min(max_kept_, msg_.payload.size());
          if (n > room && !msg_.payload_cut) {
            msg_.payload_cut = true;
            ++cut_;
          }
          msg_.payload.append(in->substr(0, std::min(n, room)));
        }
        in->remove_prefix(n);
        remaining_ -= n;
        if (remaining_ > 0) return ParseState::kNeedsMoreData;
        msg_.last_ts_ns = ts_ns;
        *out = finish();
        return ParseState::kSuccess;
      }
    }
  }
}

std::optional<Message> MessageParser::on_gap(uint64_t len) {
  if (stage_ != Stage::kPayload || len > remaining_) {
    header_.clear();
    msg_ = Message{};
    stage_ = Stage::kResync;
    return std::nullopt;
  }
  msg_.lost = true;
  keep_ = false;  // what follows the hole is not the field it seems to be
  remaining_ -= len;
  if (remaining_ > 0) return std::nullopt;
  return finish();
}

}  // namespace tlstap::protocols::pgsql
