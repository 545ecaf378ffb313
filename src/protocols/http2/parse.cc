#include "protocols/http2/parse.h"

#include <algorithm>
#include <utility>

namespace tlstap::protocols::http2 {
namespace {

uint32_t be24(std::string_view b) {
  return static_cast<uint32_t>(static_cast<uint8_t>(b[0])) << 16 |
         static_cast<uint32_t>(static_cast<uint8_t>(b[1])) << 8 | static_cast<uint8_t>(b[2]);
}

uint32_t be32(std::string_view b) {
  return static_cast<uint32_t>(static_cast<uint8_t>(b[0])) << 24 | be24(b.substr(1));
}

}  // namespace

Opening ClassifyOpening(std::string_view b) {
  if (b.empty()) return Opening::kNeedMore;
  size_t n = std::min(b.size(), kClientPreface.size());
  if (b.substr(0, n) == kClientPreface.substr(0, n)) {
    return n == kClientPreface.size() ? Opening::kClient : Opening::kNeedMore;
  }
  // A server's first frame is a SETTINGS frame without flags on stream 0:
  // length (3 bytes; SETTINGS payloads are small, so the first is 0), type
  // 4, flags 0, stream id 0 (4 bytes).
  static constexpr char kSettings[] = {0, -1, -1, 4, 0, 0, 0, 0, 0};  // -1: any
  n = std::min(b.size(), kFrameHeaderSize);
  for (size_t i = 0; i < n; ++i) {
    if (kSettings[i] != -1 && b[i] != kSettings[i]) return Opening::kNo;
  }
  if (n < kFrameHeaderSize) return Opening::kNeedMore;
  return ParseFrameHeader(b).length % 6 == 0 ? Opening::kServer : Opening::kNo;
}

FrameHeader ParseFrameHeader(std::string_view b) {
  FrameHeader h;
  h.length = be24(b);
  h.type = static_cast<uint8_t>(b[3]);
  h.flags = static_cast<uint8_t>(b[4]);
  h.stream_id = be32(b.substr(5)) & 0x7fffffffu;
  return h;
}

std::optional<std::string_view> HeaderBlockFragment(const Frame& f) {
  std::string_view p = f.payload;
  size_t pad = 0;
  bool padded = f.type() != FrameType::kContinuation && f.has(kFlagPadded);
  if (padded) {
    if (p.empty()) return std::nullopt;
    pad = static_cast<uint8_t>(p[0]);
    p.remove_prefix(1);
  }
  size_t skip = 0;
  if (f.type() == FrameType::kHeaders && f.has(kFlagPriority)) skip = 5;  // dependency, weight
  if (f.type() == FrameType::kPushPromise) skip = 4;                      // promised stream id
  if (p.size() < skip + pad) return std::nullopt;
  return p.substr(skip, p.size() - skip - pad);
}

Frame FrameParser::finish() {
  Frame f = std::move(frame_);
  frame_ = Frame{};
  header_bytes_.clear();
  stage_ = Stage::kHeader;
  return f;
}

ParseState FrameParser::ParseFrame(std::string_view* in, Frame* out, uint64_t ts_ns) {
  while (true) {
    switch (stage_) {
      case Stage::kLost:
        in->remove_prefix(in->size());
        return ParseState::kEndOfStream;
      case Stage::kPreface: {
        size_t n = std::min(in->size(), kClientPreface.size() - preface_seen_);
        if (in->substr(0, n) != kClientPreface.substr(preface_seen_, n)) {
          stage_ = Stage::kLost;
          return ParseState::kInvalid;
        }
        in->remove_prefix(n);
        preface_seen_ += n;
        if (preface_seen_ < kClientPreface.size()) return ParseState::kNeedsMoreData;
        stage_ = Stage::kHeader;
        break;
      }
      case Stage::kHeader: {
        if (in->empty()) return ParseState::kNeedsMoreData;
        if (header_bytes_.empty()) frame_.first_ts_ns = ts_ns;
        size_t n = std::min(in->size(), kFrameHeaderSize - header_bytes_.size());
        header_bytes_.append(in->substr(0, n));
        in->remove_prefix(n);
        if (header_bytes_.size() < kFrameHeaderSize) return ParseState::kNeedsMoreData;
        frame_.header = ParseFrameHeader(header_bytes_);
        remaining_ = frame_.header.length;
        bool data = frame_.type() == FrameType::kData;
        pad_pending_ = data && frame_.has(kFlagPadded);
        if (data) frame_.data_length = remaining_;
        keep_payload_ = !data && remaining_ <= max_payload_;
        frame_.oversized = !data && !keep_payload_;
        if (keep_payload_) frame_.payload.reserve(remaining_);
        stage_ = Stage::kPayload;
        break;
      }
      case Stage::kPayload: {
        if (remaining_ > 0 && in->empty()) return ParseState::kNeedsMoreData;
        if (pad_pending_ && remaining_ > 0) {
          // DATA with PADDED: the pad length byte, then data, then padding.
          size_t pad = static_cast<uint8_t>((*in)[0]);
          if (pad + 1 > frame_.header.length) {
            frame_.malformed = true;
            frame_.data_length = 0;
          } else {
            frame_.data_length = frame_.header.length - 1 - pad;
          }
          pad_pending_ = false;
        } else if (pad_pending_) {
          // PADDED with an empty payload: no room for the pad length.
          frame_.malformed = true;
          frame_.data_length = 0;
          pad_pending_ = false;
        }
        size_t n = static_cast<size_t>(std::min<uint64_t>(in->size(), remaining_));
        if (keep_payload_) frame_.payload.append(in->substr(0, n));
        in->remove_prefix(n);
        remaining_ -= n;
        if (remaining_ > 0) return ParseState::kNeedsMoreData;
        frame_.last_ts_ns = ts_ns;
        *out = finish();
        return ParseState::kSuccess;
      }
    }
  }
}

std::optional<Frame> FrameParser::on_gap(uint64_t len) {
  if (stage_ != Stage::kPayload || len > remaining_) {
    stage_ = Stage::kLost;
    return std::nullopt;
  }
  frame_.cut = true;
  if (pad_pending_) {
    // The pad length was lost: count the payload less its one byte as data.
    frame_.data_length = frame_.header.length - 1;
    pad_pending_ = false;
  }
  if (keep_payload_) {
    frame_.payload.clear();  // a part is no use to anyone
    keep_payload_ = false;
  }
  remaining_ -= len;
  if (remaining_ > 0) return std::nullopt;
  return finish();
}

HeaderDecoder::HeaderDecoder(size_t max_table_size) : max_table_size_(max_table_size) {
  if (nghttp2_hd_inflate_new(&inflater_) != 0) {
    inflater_ = nullptr;
    usable_ = false;
  }
}

HeaderDecoder::~HeaderDecoder() {
  if (inflater_) nghttp2_hd_inflate_del(inflater_);
}

void HeaderDecoder::allow_table_size(uint32_t size) {
  pending_table_size_ = std::max(pending_table_size_, std::min<size_t>(size, max_table_size_));
  apply_table_size();
}

void HeaderDecoder::apply_table_size() {
  if (pending_table_size_ <= table_size_ || in_block_ || !usable_) return;
  // Only ever raised: a lower setting obliges the encoder to announce the
  // change in its next block, which nghttp2 then checks; a higher one need
  // not be announced. An observer cannot know when the peer acknowledged
  // the setting, so it accepts the largest size offered so far (a block
  // that uses more than max_table_size fails to decode, and is counted).
  if (nghttp2_hd_inflate_change_table_size(inflater_, pending_table_size_) != 0) {
    usable_ = false;
    return;
  }
  table_size_ = pending_table_size_;
}

bool HeaderDecoder::decode(std::string_view fragment, bool last, const FieldHandler& on_field) {
  if (!usable_) return false;
  in_block_ = true;
  auto in = reinterpret_cast<const uint8_t*>(fragment.data());
  size_t left = fragment.size();
  while (true) {
    nghttp2_nv nv;
    int flags = 0;
    ssize_t n = nghttp2_hd_inflate_hd2(inflater_, &nv, &flags, in, left, last ? 1 : 0);
    if (n < 0) {
      usable_ = false;
      return false;
    }
    in += n;
    left -= static_cast<size_t>(n);
    if (flags & NGHTTP2_HD_INFLATE_EMIT) {
      on_field(std::string_view(reinterpret_cast<const char*>(nv.name), nv.namelen),
               std::string_view(reinterpret_cast<const char*>(nv.value), nv.valuelen));
    }
    if (flags & NGHTTP2_HD_INFLATE_FINAL) {
      nghttp2_hd_inflate_end_headers(inflater_);
      in_block_ = false;
      apply_table_size();
      return true;
    }
    if (!(flags & NGHTTP2_HD_INFLATE_EMIT) && left == 0) return true;
  }
}

}  // namespace tlstap::protocols::http2
