#include "pcapng/reorder.h"

namespace tlstap::pcapng {

Result<void> ReorderBuffer::add_packet(Packet packet) {
  if (released_any_ && packet.ts_ns < newest_released_ns_) ++stats_.late;
  stats_.held_bytes += packet.data.size();
  ++stats_.held_packets;
  uint64_t ts = packet.ts_ns;
  held_.emplace(std::make_pair(ts, arrivals_++), std::move(packet));
  while (stats_.held_bytes > options_.max_held_bytes && !held_.empty()) {
    Result<void> released = release_oldest(/*early=*/true);
    if (!released) return released;
  }
  return {};
}

Result<void> ReorderBuffer::add_secrets(std::span<const keys::KeyLogLine> lines) {
  return sink_->write_secrets(lines);
}

Result<void> ReorderBuffer::release(uint64_t now_ns) {
  while (!held_.empty() && held_.begin()->first.first + options_.delay_ns <= now_ns) {
    Result<void> released = release_oldest(/*early=*/false);
    if (!released) return released;
  }
  return {};
}

Result<void> ReorderBuffer::flush_all() {
  while (!held_.empty()) {
    Result<void> released = release_oldest(/*early=*/false);
    if (!released) return released;
  }
  return {};
}

Result<void> ReorderBuffer::release_oldest(bool early) {
  auto node = held_.extract(held_.begin());
  const Packet& packet = node.mapped();
  stats_.held_bytes -= packet.data.size();
  --stats_.held_packets;
  ++stats_.released;
  if (early) ++stats_.released_early;
  if (!released_any_ || packet.ts_ns > newest_released_ns_) newest_released_ns_ = packet.ts_ns;
  released_any_ = true;
  return sink_->write_packet(packet);
}

}  // namespace tlstap::pcapng
