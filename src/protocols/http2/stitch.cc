#include "protocols/http2/stitch.h"

#include <charconv>
#include <utility>

namespace tlstap::protocols::http2 {
namespace {

int parse_int(std::string_view v) {
  int n = -1;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || end != v.data() + v.size() || n < 0) return -1;
  return n;
}

uint32_t be32(std::string_view b) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v = v << 8 | static_cast<uint8_t>(b[i]);
  return v;
}

}  // namespace

Connection::Stream* Connection::find(uint32_t id) {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : &it->second;
}

void Connection::keep(std::string* to, std::string_view value) const {
  to->assign(value.substr(0, limits_.max_field_kept));
}

void Connection::lose_hpack(Side* s) {
  if (s->hpack.usable()) {
    s->hpack.give_up();
    ++stats_->hpack_lost;
  }
  s->block_decoded = false;
}

void Connection::on_frame(bool from_client, const Frame& f, const RecordHandler& emit) {
  Side& s = side(from_client);
  if (f.oversized) ++stats_->oversized_frames;
  if (s.in_block && f.type() != FrameType::kContinuation) {
    // A header block must go on with CONTINUATION frames, nothing between.
    ++stats_->invalid;
    lose_hpack(&s);
    s.in_block = false;
  }
  switch (f.type()) {
    case FrameType::kHeaders:
    case FrameType::kPushPromise:
    case FrameType::kContinuation:
      header_fragment(from_client, f, emit);
      return;
    case FrameType::kData: {
      Stream* st = find(f.header.stream_id);
      if (!st) {
        ++stats_->unknown_stream_frames;
        return;
      }
      uint64_t wire = kFrameHeaderSize + f.header.length;
      (from_client ? st->request_bytes : st->response_bytes) += wire;
      (from_client ? st->request_body_bytes : st->response_body_bytes) += f.data_length;
      if (f.cut) st->cut = true;
      if (f.malformed) ++stats_->invalid;
      if (f.has(kFlagEndStream)) end_stream(st, from_client, f, emit);
      return;
    }
    case FrameType::kRstStream: {
      Stream* st = find(f.header.stream_id);
      if (!st) {
        ++stats_->unknown_stream_frames;
        return;
      }
      uint32_t code = f.payload.size() == 4 ? be32(f.payload) : ~0u;
      if (st->response_ended && code == 0) {
        // A whole response, then NO_ERROR: the server wants no more of the
        // request (RFC 9113, 8.1). Not an error.
        finish(st->id, "", emit);
        return;
      }
      ++stats_->resets;
      if (!st->response_ended) st->last_ts_ns = f.last_ts_ns;
      finish(st->id,
             std::string("reset by ") + (from_client ? "client" : "server") + " (" +
                 (code == ~0u ? std::string("?") : error_code_name(code)) + ")",
             emit);
      return;
    }
    case FrameType::kSettings:
      ++stats_->control_frames;
      if (f.has(kFlagAck)) return;
      // The sender's SETTINGS_HEADER_TABLE_SIZE bounds the table the other
      // direction's encoder may use, so it is the other decoder's.
      for (size_t i = 0; i + 6 <= f.payload.size(); i += 6) {
        uint16_t id = static_cast<uint16_t>(static_cast<uint8_t>(f.payload[i]) << 8 |
                                            static_cast<uint8_t>(f.payload[i + 1]));
        if (id == kSettingsHeaderTableSize) {
          side(!from_client).hpack.allow_table_size(be32(f.payload.substr(i + 2, 4)));
        }
      }
      return;
    default:
      // PING, WINDOW_UPDATE, PRIORITY, GOAWAY, extension frames: nothing
      // records need (streams a GOAWAY leaves unanswered end at close).
      ++stats_->control_frames;
      return;
  }
}

void Connection::header_fragment(bool from_client, const Frame& f, const RecordHandler& emit) {
  Side& s = side(from_client);
  uint32_t id = f.header.stream_id;
  if (f.type() == FrameType::kContinuation) {
    if (!s.in_block || id != s.block_stream) {
      ++stats_->invalid;
      lose_hpack(&s);
      return;
    }
  } else {
    // A new block: HEADERS (a request, a response, trailers) or PUSH_PROMISE.
    s.in_block = true;
    s.block_kind = f.type() == FrameType::kHeaders ? BlockKind::kHeaders : BlockKind::kPushPromise;
    s.block_stream = id;
    s.block_end_stream = f.type() == FrameType::kHeaders && f.has(kFlagEndStream);
    s.block_decoded = s.hpack.usable();
    s.block_bytes = 0;
    s.fields = Fields{};
    if (s.block_kind == BlockKind::kPushPromise) {
      ++stats_->pushes;
    } else if (from_client && !find(id)) {
      if (id > max_client_stream_ && streams_.size() < limits_.max_streams) {
        Stream& st = streams_[id];
        st.id = id;
        st.first_ts_ns = f.first_ts_ns;
      } else if (id > max_client_stream_) {
        ++stats_->stream_overflows;
      } else {
        ++stats_->unknown_stream_frames;  // a stream already ended
      }
      if (id > max_client_stream_) max_client_stream_ = id;
    } else if (!from_client && !find(id)) {
      ++stats_->unknown_stream_frames;  // a pushed stream, or one not recorded
    }
  }
  Stream* st = s.block_kind == BlockKind::kHeaders ? find(id) : nullptr;
  if (st)
    (from_client ? st->request_bytes : st->response_bytes) += kFrameHeaderSize + f.header.length;
  if (f.cut) {
    if (st) st->cut = true;
    lose_hpack(&s);
  } else if (f.oversized) {
    lose_hpack(&s);
  } else if (s.block_decoded) {
    std::optional<std::string_view> fragment = HeaderBlockFragment(f);
    s.block_bytes += f.header.length;
    if (!fragment) {
      ++stats_->invalid;
      lose_hpack(&s);
    } else if (s.block_bytes > limits_.max_header_block) {
      ++stats_->oversized_header_blocks;
      lose_hpack(&s);
    } else {
      Fields& out = s.fields;
      bool ok = s.hpack.decode(*fragment, f.has(kFlagEndHeaders),
                               [&](std::string_view name, std::string_view value) {
                                 if (name == ":method")
                                   keep(&out.method, value);
                                 else if (name == ":path")
                                   keep(&out.path, value);
                                 else if (name == ":authority")
                                   keep(&out.authority, value);
                                 else if (name == ":status")
                                   out.status = parse_int(value);
                                 else if (name == "grpc-status")
                                   out.grpc_status = parse_int(value);
                                 else if (name == "grpc-message")
                                   keep(&out.grpc_message, value);
                               });
      if (!ok) {
        ++stats_->hpack_errors;
        lose_hpack(&s);
      }
    }
  }
  if (f.has(kFlagEndHeaders)) end_block(from_client, f, emit);
}

void Connection::end_block(bool from_client, const Frame& f, const RecordHandler& emit) {
  Side& s = side(from_client);
  s.in_block = false;
  if (s.block_kind != BlockKind::kHeaders) return;  // pushed requests are not recorded
  Stream* st = find(s.block_stream);
  if (!st) return;
  if (!s.block_decoded) st->headers_lost = true;
  const Fields& fl = s.fields;
  if (from_client) {
    if (!st->request_headers && s.block_decoded) st->request = fl;
    st->request_headers = true;  // later blocks are trailers
    if (s.block_end_stream) end_stream(st, /*from_client=*/true, f, emit);
    return;
  }
  if (st->status == 0 && s.block_decoded) {
    // 1xx responses come before the final one; a block after it is trailers.
    if (fl.status >= 200) st->status = fl.status;
  }
  st->response_headers = true;
  if (fl.grpc_status >= 0) {
    st->grpc_status = fl.grpc_status;
    st->grpc_message = fl.grpc_message;
  }
  if (s.block_end_stream) end_stream(st, /*from_client=*/false, f, emit);
}

void Connection::end_stream(Stream* st, bool from_client, const Frame& f,
                            const RecordHandler& emit) {
  if (from_client) {
    st->request_ended = true;
  } else {
    st->response_ended = true;
    st->last_ts_ns = f.last_ts_ns;
  }
  // A record once both ends are in: a server may answer before the
  // request's body is all sent, and the body still counts.
  if (st->request_ended && st->response_ended) finish(st->id, "", emit);
}

void Connection::on_framing_lost(bool from_client) {
  Side& s = side(from_client);
  lose_hpack(&s);
  s.in_block = false;
  for (auto& [id, st] : streams_) {
    if (from_client ? !st.request_ended : !st.response_ended) st.cut = true;
  }
}

void Connection::finish(uint32_t id, std::string error, const RecordHandler& emit) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  Stream& st = it->second;
  Record r;
  r.proto = Proto::kHttp2;
  r.stream_id = st.id;
  r.method = std::move(st.request.method);
  r.target = std::move(st.request.path);
  r.host = std::move(st.request.authority);
  r.status = st.status;
  r.grpc_status = st.grpc_status;
  r.grpc_message = std::move(st.grpc_message);
  r.request_bytes = st.request_bytes;
  r.response_bytes = st.response_bytes;
  r.request_body_bytes = st.request_body_bytes;
  r.response_body_bytes = st.response_body_bytes;
  r.ts_ns = st.first_ts_ns;
  if ((error.empty() || st.response_ended) && st.last_ts_ns > st.first_ts_ns)
    r.latency_ns = st.last_ts_ns - st.first_ts_ns;
  if (error.empty() && st.headers_lost) error = "headers not decoded (HPACK state lost)";
  if (error.empty() && st.cut) error = "bytes lost";
  r.error = std::move(error);
  ++stats_->records;
  if (!r.error.empty()) ++stats_->errors;
  streams_.erase(it);
  emit(std::move(r));
}

void Connection::close(const RecordHandler& emit) {
  while (!streams_.empty()) {
    const Stream& st = streams_.begin()->second;
    finish(st.id,
           st.response_ended     ? "request cut short"
           : st.response_headers ? "response cut short"
                                 : "no response",
           emit);
  }
}

}  // namespace tlstap::protocols::http2
