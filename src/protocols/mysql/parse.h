// MySQL packets from one direction's ordered bytes, and the fields of the
// packets pairing reads (OK, ERR, EOF, the prepare reply, the client's
// HandshakeResponse41).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "protocols/mysql/types.h"
#include "protocols/parse_state.h"
#include "protocols/router.h"

namespace tlstap::protocols::mysql {

// What the first bytes of a direction carried over TLS say about it.
// kClient: the client's HandshakeResponse41 (sequence id 2, after the
// cleartext greeting and SSLRequest), or, when tlstap started later, one
// whole command packet (sequence id 0, a known command byte, the call's
// bytes exactly one packet). kServer: its first reply to the
// HandshakeResponse41 (sequence id 3: OK, ERR, an authentication switch or
// more data), whole. Never kClient or kServer for HTTP/1 or HTTP/2: their
// fourth byte (a letter, a space, or HTTP/2's frame type 4) is never the
// sequence id 0, 2 or 3 it asks for.
Opening ClassifyOpening(std::string_view first_bytes);

// Where a command packet of the client could start in buf: a header with
// sequence id 0 and a known command byte whose packet ends exactly at the
// end of buf or goes on past it. npos when there is none.
size_t FindCommandStart(std::string_view buf);

// One direction's packets, pushed in as the bytes come. Each logical
// packet (a payload split at 0xffffff joined again) is returned whole; its
// payload is kept up to max_payload_kept bytes, the rest only counted.
class PacketParser {
 public:
  explicit PacketParser(size_t max_payload_kept) : max_kept_(max_payload_kept) {}

  // kSuccess: one whole logical packet in *packet; consumed up to its last byte.
  // kNeedsMoreData: all of *in consumed, no packet complete yet.
  // kEndOfStream: framing is lost (see lost()); nothing consumed.
  ParseState ParseFrame(std::string_view* in, Packet* packet, uint64_t ts_ns);

  // len bytes at the current position will never come. Inside a payload
  // the framing survives (the packet is marked cut; returned if the gap
  // ends it); over a header it is lost until resume().
  std::optional<Packet> on_gap(uint64_t len);
  // The framing is lost from here (the caller found no start).
  void lose();
  // The next byte starts a packet.
  void resume();
  bool lost() const { return stage_ == Stage::kLost; }

 private:
  enum class Stage : uint8_t { kHeader, kPayload, kLost };
  Packet finish();

  size_t max_kept_;
  Stage stage_ = Stage::kHeader;
  std::string header_;      // up to 4 bytes
  Packet packet_;           // in progress
  uint32_t remaining_ = 0;  // payload bytes of the current physical packet still to come
  bool continues_ = false;  // the current physical packet is 0xffffff long
  bool started_ = false;    // a physical packet of packet_ was seen
  bool keeping_ = true;     // no gap inside packet_ yet: its bytes are kept in order
};

// Length-encoded integer at the front of *in, consumed; nullopt when
// incomplete or 0xff (no integer).
std::optional<uint64_t> ReadLenenc(std::string_view* in);

struct Ok {
  uint64_t affected_rows = 0;
  uint16_t status = 0;
};
// An OK packet (0x00, or 0xfe ending a result set with CLIENT_DEPRECATE_EOF).
std::optional<Ok> ParseOk(std::string_view payload);
// An EOF packet's status flags (0xfe, warnings, status).
std::optional<uint16_t> ParseEofStatus(std::string_view payload);

struct Err {
  uint16_t code = 0;
  std::string sql_state;  // "42S02"; "" when absent
  std::string message;
};
std::optional<Err> ParseErr(std::string_view payload);

struct PrepareOk {
  uint32_t statement_id = 0;
  uint16_t columns = 0, params = 0;
};
std::optional<PrepareOk> ParsePrepareOk(std::string_view payload);

// The capability flags of a HandshakeResponse41 (payload), nullopt when
// the payload is not one: CLIENT_PROTOCOL_41 set and the 19 filler bytes
// zero (MariaDB puts its own capabilities in the 4 after them).
std::optional<uint32_t> ParseHandshakeResponseCapabilities(std::string_view payload);

}  // namespace tlstap::protocols::mysql
