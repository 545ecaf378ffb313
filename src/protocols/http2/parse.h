// HTTP/2 frames from one direction's ordered bytes, and HPACK header blocks
// decoded with nghttp2's inflater (Debian's libnghttp2).
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "protocols/http2/types.h"
#include "protocols/parse_state.h"
#include "protocols/router.h"

namespace tlstap::protocols::http2 {

// What the first bytes of a direction say: kClient for the client preface,
// kServer for a SETTINGS frame (an HTTP/2 server's first frame), kNeedMore
// for a prefix of either.
Opening ClassifyOpening(std::string_view first_bytes);

// The 9-byte header at the start of bytes (at least 9 bytes).
FrameHeader ParseFrameHeader(std::string_view bytes);

// The header block fragment of a HEADERS, PUSH_PROMISE or CONTINUATION
// frame: padding, the priority fields and the promised stream id taken off.
// nullopt when the padding or those fields do not fit in the payload.
std::optional<std::string_view> HeaderBlockFragment(const Frame& frame);

// One direction's frames, pushed in as the bytes come.
class FrameParser {
 public:
  // expect_preface: the client's direction, which starts with kClientPreface.
  FrameParser(size_t max_frame_payload, bool expect_preface)
      : max_payload_(max_frame_payload),
        stage_(expect_preface ? Stage::kPreface : Stage::kHeader) {}

  // kSuccess: one whole frame in *frame; its bytes are consumed from *in.
  // kNeedsMoreData: all of *in consumed, no frame complete yet.
  // kInvalid: the preface was expected and is not there; nothing of *in
  //   is consumed and the direction is given up (kEndOfStream from then on).
  // kEndOfStream: framing was lost earlier (a gap over a frame header, or
  //   no preface); all of *in is consumed and ignored.
  ParseState ParseFrame(std::string_view* in, Frame* frame, uint64_t ts_ns);

  // len bytes at the current position will never come. If they fall inside
  // the current frame's payload the framing survives (the frame is marked
  // cut; if the gap ends it, it is returned); otherwise the direction is
  // given up.
  std::optional<Frame> on_gap(uint64_t len);

  bool lost() const { return stage_ == Stage::kLost; }

 private:
  enum class Stage : uint8_t { kPreface, kHeader, kPayload, kLost };
  Frame finish();

  size_t max_payload_;
  Stage stage_;
  size_t preface_seen_ = 0;
  std::string header_bytes_;  // up to 9
  Frame frame_;               // in progress
  uint64_t remaining_ = 0;    // payload bytes still to come
  bool keep_payload_ = false;
  bool pad_pending_ = false;  // DATA, PADDED: the pad length byte is next
};

// HPACK state of one direction: every header block that direction carries
// must go through it, in order, from the start of the connection.
class HeaderDecoder {
 public:
  using FieldHandler = std::function<void(std::string_view name, std::string_view value)>;

  explicit HeaderDecoder(size_t max_table_size);
  ~HeaderDecoder();
  HeaderDecoder(const HeaderDecoder&) = delete;
  HeaderDecoder& operator=(const HeaderDecoder&) = delete;

  // One fragment of a header block; last is the fragment with END_HEADERS.
  // Each field goes to on_field. false: the block could not be decoded
  // (the decoder is unusable from now on).
  bool decode(std::string_view fragment, bool last, const FieldHandler& on_field);
  // The peer allowed a dynamic table of this size (SETTINGS_HEADER_TABLE_SIZE).
  // Only raises, up to max_table_size; applied between blocks.
  void allow_table_size(uint32_t size);
  // A block's bytes were not all seen: the dynamic table can no longer be trusted.
  void give_up() { usable_ = false; }
  bool usable() const { return usable_; }

 private:
  void apply_table_size();

  nghttp2_hd_inflater* inflater_ = nullptr;
  size_t max_table_size_;
  size_t table_size_ = 4096;  // RFC 7541's initial size
  size_t pending_table_size_ = 0;
  bool in_block_ = false;
  bool usable_ = true;
};

}  // namespace tlstap::protocols::http2
