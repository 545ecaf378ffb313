#include "protocols/mysql/parse.h"

#include <algorithm>
#include <utility>

namespace tlstap::protocols::mysql {
namespace {

uint32_t le(std::string_view b, size_t n) {
  uint32_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(b[i])) << (8 * i);
  return v;
}

// The header at the front of b (at least 4 bytes).
struct Header {
  uint32_t length;
  uint8_t seq;
};
Header ReadHeader(std::string_view b) { return {le(b, 3), static_cast<uint8_t>(b[3])}; }

// A command byte whose packet has a response or is worth a record.
bool KnownCommand(uint8_t b) { return !command_name(b).empty() && b != 0x00; }

// b (at least kHeaderSize) is one command packet ending exactly at its end.
bool WholeCommand(std::string_view b) {
  Header h = ReadHeader(b);
  return h.seq == 0 && h.length >= 1 && h.length < kMaxPacketLength &&
         b.size() == kHeaderSize + h.length && KnownCommand(static_cast<uint8_t>(b[4]));
}

}  // namespace

Opening ClassifyOpening(std::string_view b) {
  if (b.size() < kHeaderSize + 1) return Opening::kNeedMore;
  Header h = ReadHeader(b);
  if (h.seq == 2) {
    // HandshakeResponse41: capabilities (4), max packet (4), charset (1),
    // filler (23): 32 bytes before the user name.
    if (h.length < 33) return Opening::kNo;
    if (b.size() < kHeaderSize + 32) return Opening::kNeedMore;
    std::optional<uint32_t> caps =
        ParseHandshakeResponseCapabilities(b.substr(kHeaderSize, std::min<size_t>(h.length, 32)));
    return caps && (*caps & kClientSsl) ? Opening::kClient : Opening::kNo;
  }
  if (h.seq == 3) {
    uint8_t first = static_cast<uint8_t>(b[4]);
    bool reply = first == kOkHeader || first == kErrHeader || first == kEofHeader || first == 0x01;
    if (!reply || h.length >= kMaxPacketLength) return Opening::kNo;
    if (b.size() < kHeaderSize + h.length) return Opening::kNeedMore;
    return b.size() == kHeaderSize + h.length ? Opening::kServer : Opening::kNo;
  }
  if (h.seq == 0 && WholeCommand(b)) return Opening::kClient;
  // A command packet longer than the bytes seen: more may make it whole.
  if (h.seq == 0 && h.length >= 1 && h.length < kMaxPacketLength &&
      b.size() < kHeaderSize + h.length && KnownCommand(static_cast<uint8_t>(b[4])))
    return Opening::kNeedMore;
  return Opening::kNo;
}

size_t FindCommandStart(std::string_view buf) {
  for (size_t i = 0; i + kHeaderSize < buf.size(); ++i) {
    Header h = ReadHeader(buf.substr(i));
    if (h.seq != 0 || h.length < 1 || h.length >= kMaxPacketLength) continue;
    if (!KnownCommand(static_cast<uint8_t>(buf[i + kHeaderSize]))) continue;
    if (i + kHeaderSize + h.length >= buf.size()) return i;
  }
  return std::string_view::npos;
}

Packet PacketParser::finish() {
  Packet p = std::move(packet_);
  packet_ = Packet{};
  started_ = false;
  keeping_ = true;
  stage_ = Stage::kHeader;
  return p;
}

void PacketParser::lose() {
  stage_ = Stage::kLost;
  header_.clear();
  packet_ = Packet{};
  started_ = false;
  keeping_ = true;
}

void PacketParser::resume() {
  if (stage_ == Stage::kLost) stage_ = Stage::kHeader;
}

ParseState PacketParser::ParseFrame(std::string_view* in, Packet* out, uint64_t ts_ns) {
  while (true) {
    switch (stage_) {
      case Stage::kLost:
        return ParseState::kEndOfStream;
      case Stage::kHeader: {
        if (in->empty()) return ParseState::kNeedsMoreData;
        size_t n = std::min(kHeaderSize - header_.size(), in->size());
        header_.append(in->substr(0, n));
        in->remove_prefix(n);
        if (header_.size() < kHeaderSize) return ParseState::kNeedsMoreData;
        Header h = ReadHeader(header_);
        header_.clear();
        if (!started_) {
          packet_.seq = h.seq;
          packet_.first_ts_ns = ts_ns;
          started_ = true;
        }
        packet_.last_seq = h.seq;
        packet_.wire_size += kHeaderSize;
        remaining_ = h.length;
        continues_ = h.length == kMaxPacketLength;
        stage_ = Stage::kPayload;
        break;
      }
      case Stage::kPayload: {
        size_t n = std::min<uint64_t>(remaining_, in->size());
        size_t keep =
            keeping_ ? std::min(n, max_kept_ - std::min(max_kept_, packet_.payload.size())) : 0;
        packet_.payload.append(in->substr(0, keep));
        packet_.payload_size += n;
        packet_.wire_size += n;
        in->remove_prefix(n);
        remaining_ -= static_cast<uint32_t>(n);
        if (remaining_ > 0) return ParseState::kNeedsMoreData;
        if (continues_) {
          stage_ = Stage::kHeader;
          break;
        }
        packet_.last_ts_ns = ts_ns;
        *out = finish();
        return ParseState::kSuccess;
      }
    }
  }
}

std::optional<Packet> PacketParser::on_gap(uint64_t len) {
  if (stage_ == Stage::kLost) return std::nullopt;
  if (stage_ != Stage::kPayload || len > remaining_) {
    lose();
    return std::nullopt;
  }
  packet_.cut = true;
  packet_.payload_size += len;
  packet_.wire_size += len;
  remaining_ -= static_cast<uint32_t>(len);
  keeping_ = false;  // what follows would be taken for what was lost
  if (remaining_ > 0 || continues_) {
    if (remaining_ == 0) stage_ = Stage::kHeader;
    return std::nullopt;
  }
  return finish();
}

std::optional<uint64_t> ReadLenenc(std::string_view* in) {
  if (in->empty()) return std::nullopt;
  uint8_t first = static_cast<uint8_t>((*in)[0]);
  size_t n = first < 0xfb ? 0 : first == 0xfc ? 2 : first == 0xfd ? 3 : first == 0xfe ? 8 : 99;
  if (n == 99 || in->size() < 1 + n) return std::nullopt;  // 0xfb (NULL) and 0xff are no integers
  uint64_t v = first;
  if (n > 0) {
    v = 0;
    for (size_t i = 0; i < n; ++i)
      v |= static_cast<uint64_t>(static_cast<uint8_t>((*in)[1 + i])) << (8 * i);
  }
  in->remove_prefix(1 + n);
  return v;
}

std::optional<Ok> ParseOk(std::string_view p) {
  if (p.empty()) return std::nullopt;
  p.remove_prefix(1);
  Ok ok;
  std::optional<uint64_t> affected = ReadLenenc(&p);
  if (!affected || !ReadLenenc(&p) || p.size() < 2) return std::nullopt;  // last insert id
  ok.affected_rows = *affected;
  ok.status = static_cast<uint16_t>(le(p, 2));
  return ok;
}

std::optional<uint16_t> ParseEofStatus(std::string_view p) {
  if (p.size() < 5) return std::nullopt;
  return static_cast<uint16_t>(le(p.substr(3), 2));  // after 0xfe and the warning count
}

std::optional<Err> ParseErr(std::string_view p) {
  if (p.size() < 3 || static_cast<uint8_t>(p[0]) != kErrHeader) return std::nullopt;
  Err e;
  e.code = static_cast<uint16_t>(le(p.substr(1), 2));
  p.remove_prefix(3);
  if (p.size() >= 6 && p[0] == '#') {  // CLIENT_PROTOCOL_41: '#' and the SQL state
    e.sql_state = p.substr(1, 5);
    p.remove_prefix(6);
  }
  e.message = p;
  return e;
}

std::optional<PrepareOk> ParsePrepareOk(std::string_view p) {
  // 0x00, statement id (4), columns (2), params (2), reserved (1), warnings (2).
  if (p.size() < 9 || static_cast<uint8_t>(p[0]) != kOkHeader) return std::nullopt;
  return PrepareOk{le(p.substr(1), 4), static_cast<uint16_t>(le(p.substr(5), 2)),
                   static_cast<uint16_t>(le(p.substr(7), 2))};
}

std::optional<uint32_t> ParseHandshakeResponseCapabilities(std::string_view p) {
  if (p.size() < 32) return std::nullopt;
  uint32_t caps = le(p, 4);
  if (!(caps & kClientProtocol41)) return std::nullopt;
  // Capabilities (4), max packet size (4), character set (1), then filler.
  if (p.substr(9, 19).find_first_not_of('\0') != std::string_view::npos) return std::nullopt;
  return caps;
}

}  // namespace tlstap::protocols::mysql
