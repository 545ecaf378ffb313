// HTTP/2 (RFC 9113) frames as parsed from one direction of a connection.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tlstap::protocols::http2 {

// What a client sends first; it tells which direction is the client's.
inline constexpr std::string_view kClientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
inline constexpr size_t kFrameHeaderSize = 9;

enum class FrameType : uint8_t {
  kData = 0x0,
  kHeaders = 0x1,
  kPriority = 0x2,
  kRstStream = 0x3,
  kSettings = 0x4,
  kPushPromise = 0x5,
  kPing = 0x6,
  kGoaway = 0x7,
  kWindowUpdate = 0x8,
  kContinuation = 0x9,
};

// Frame flags; which ones a type uses is in RFC 9113, section 6.
inline constexpr uint8_t kFlagEndStream = 0x01;   // DATA, HEADERS
inline constexpr uint8_t kFlagAck = 0x01;         // SETTINGS, PING
inline constexpr uint8_t kFlagEndHeaders = 0x04;  // HEADERS, PUSH_PROMISE, CONTINUATION
inline constexpr uint8_t kFlagPadded = 0x08;      // DATA, HEADERS, PUSH_PROMISE
inline constexpr uint8_t kFlagPriority = 0x20;    // HEADERS

inline constexpr uint16_t kSettingsHeaderTableSize = 0x1;

struct FrameHeader {
  uint32_t length = 0;  // of the payload, 24 bits
  uint8_t type = 0;     // a FrameType, or an extension type (ignored)
  uint8_t flags = 0;
  uint32_t stream_id = 0;  // 31 bits, the reserved bit cleared
};

struct Frame {
  FrameHeader header;
  // Every frame type but DATA: the whole payload, when it is at most
  // Limits::max_frame_payload (else oversized, and payload is empty).
  // DATA payloads are counted, never kept.
  std::string payload;
  // DATA: payload bytes that are data (length minus the pad length field
  // and the padding).
  uint64_t data_length = 0;
  bool oversized = false;  // payload not kept: larger than the limit
  bool cut = false;        // bytes of the payload were lost (a gap inside it)
  bool malformed = false;  // padding longer than the payload
  // Return times of the calls carrying the frame's first and last byte.
  uint64_t first_ts_ns = 0, last_ts_ns = 0;

  FrameType type() const { return static_cast<FrameType>(header.type); }
  bool has(uint8_t flag) const { return (header.flags & flag) != 0; }
};

std::string_view frame_type_name(uint8_t type);
// RST_STREAM and GOAWAY error codes: "CANCEL", "PROTOCOL_ERROR", ...
std::string error_code_name(uint32_t code);

}  // namespace tlstap::protocols::http2
