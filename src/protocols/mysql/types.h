// MySQL client/server protocol (as MariaDB and MySQL speak it): packets
// as parsed from one direction of a connection, and the constants the
// pairing needs.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "protocols/record.h"

namespace tlstap::protocols::mysql {

// Every packet starts with a 3-byte little-endian payload length and a
// sequence id. A payload of exactly kMaxPacketLength continues in the next
// packet; the logical payload ends with the first shorter one.
inline constexpr size_t kHeaderSize = 4;
inline constexpr uint32_t kMaxPacketLength = 0xffffff;

// Command bytes (the first byte of a client packet with sequence id 0).
enum class Command : uint8_t {
  kQuit = 0x01,
  kInitDb = 0x02,
  kQuery = 0x03,
  kFieldList = 0x04,
  kStatistics = 0x09,
  kPing = 0x0e,
  kChangeUser = 0x11,
  kStmtPrepare = 0x16,
  kStmtExecute = 0x17,
  kStmtSendLongData = 0x18,
  kStmtClose = 0x19,
  kStmtReset = 0x1a,
  kSetOption = 0x1b,
  kStmtFetch = 0x1c,
  kResetConnection = 0x1f,
  kStmtBulkExecute = 0xfa,  // MariaDB
};

// "COM_QUERY", ...; "" for a byte that is no command.
std::string_view command_name(uint8_t command);

// Capability flags of the HandshakeResponse41 (the client's choice).
inline constexpr uint32_t kClientCompress = 0x20;
inline constexpr uint32_t kClientProtocol41 = 0x200;
inline constexpr uint32_t kClientSsl = 0x800;
inline constexpr uint32_t kClientDeprecateEof = 1u << 24;
inline constexpr uint32_t kClientQueryAttributes = 1u << 27;  // MySQL 8

// Server status flags of OK and EOF packets.
inline constexpr uint16_t kServerMoreResultsExist = 0x0008;
inline constexpr uint16_t kServerStatusCursorExists = 0x0040;

// First bytes of server packets.
inline constexpr uint8_t kOkHeader = 0x00;
inline constexpr uint8_t kLocalInfileHeader = 0xfb;
inline constexpr uint8_t kEofHeader = 0xfe;
inline constexpr uint8_t kErrHeader = 0xff;

// MariaDB's COM_STMT_EXECUTE with this id executes the statement prepared
// last on the connection (sent right behind its COM_STMT_PREPARE).
inline constexpr uint32_t kLastPreparedStatement = 0xffffffff;

// One logical packet: a payload and the headers of every physical packet
// that carried it.
struct Packet {
  uint8_t seq = 0;            // the sequence id of its first physical packet
  uint8_t last_seq = 0;       // and of its last (one more per 0xffffff piece)
  uint64_t payload_size = 0;  // the whole logical payload
  std::string payload;        // its first Limits::max_payload_kept bytes
  uint64_t wire_size = 0;     // headers included
  bool cut = false;           // bytes of its payload were lost (a gap inside it)
  // Return times of the calls carrying its first and last byte.
  uint64_t first_ts_ns = 0, last_ts_ns = 0;

  // The first payload byte, -1 for an empty payload or one whose first byte was lost.
  int first_byte() const { return payload.empty() ? -1 : static_cast<uint8_t>(payload[0]); }
};

struct Limits {
  // Payload bytes kept per packet: statement texts and error messages are
  // cut to this (counted in Stats::overflows); rows are only counted.
  size_t max_payload_kept = 4096;
  size_t max_prepared = 256;  // prepared statements remembered per connection
  size_t max_pending = 64;    // commands sent and not answered yet, per connection
};

struct Stats {
  uint64_t records = 0, errors = 0;  // records made, those with an error
  uint64_t gaps = 0;                 // gaps in the streams of MySQL connections
  // Bytes that were not what the protocol puts there: an opening that is
  // no MySQL handshake or command, a response that does not fit its command.
  uint64_t invalid = 0;
  uint64_t skipped_bytes = 0;  // passed over looking for a packet start after lost framing
  // Statements cut to max_payload_kept, prepared statements not remembered
  // (max_prepared), commands not waited for (max_pending).
  uint64_t overflows = 0;
  uint64_t compressed = 0;  // connections using the compressed protocol (not parsed)
};

using Record = protocols::Record;

}  // namespace tlstap::protocols::mysql
