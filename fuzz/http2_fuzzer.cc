// libFuzzer target: one connection through the router into the HTTP/2
// tracker (framing, HPACK through nghttp2, stream pairing), fed in calls of
// any size, with gaps and a close. Input: one byte of flags (bit 0: the
// client's direction starts with the preface, so most inputs get past it),
// then records of [op][length][length bytes]; op % 4: 0 client bytes,
// 1 server bytes, 2 gap in the client's direction, 3 gap in the server's.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/connection_ops.h"
#include "protocols/http2/tracker.h"
#include "protocols/router.h"

namespace http2 = tlstap::protocols::http2;
namespace streams = tlstap::streams;
using tlstap::capture::Dir;
using tlstap::protocols::Record;

namespace {

// Never called: an input that is not HTTP/2 from its start.

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  http2::Limits limits;
  limits.max_frame_payload = 4096;  // small bounds, so inputs reach them
  limits.max_header_block = 8192;
  limits.max_streams = 8;
  limits.max_field_kept = 64;
  uint64_t records = 0;
  http2::Tracker tracker(
      [&](Record&& r) {
        ++records;
        if (r.method.size() > limits.max_field_kept || r.target.size() > limits.max_field_kept ||
            r.host.size() > limits.max_field_kept || r.grpc_message.size() > limits.max_field_kept)
          __builtin_trap();  // kept fields are bounded
        if (r.response_body_bytes > r.response_bytes || r.request_body_bytes > r.request_bytes)
          __builtin_trap();  // bodies are inside the frames counted
      },
      limits);
  tlstap::fuzz::NullSink http1;
  tlstap::protocols::Router router({{http2::ClassifyOpening, &tracker}}, &http1);
  streams::ConnInfo info;
  info.conn_id = 1;
  uint64_t pos[2] = {0, 0}, ts = 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (in[0] & 1) {
    std::string_view preface = http2::kClientPreface;
    router.on_data(info, Dir::kTx, 0, preface, ++ts);
    pos[0] = preface.size();
  }
  in.remove_prefix(1);
  tlstap::fuzz::FeedOps(router, info, in, pos, &ts);
  if (tracker.connections() != 0 || router.connections() != 0) __builtin_trap();
  if (tracker.stats().records != records) __builtin_trap();
  return 0;
}
