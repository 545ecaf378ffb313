#include "packets/packet_capture.h"

#include "bpf/tlstap.h"

namespace tlstap::packets {

Result<std::unique_ptr<PacketCapture>> PacketCapture::make(pcapng::OutputOpener open,
                                                           CaptureOptions options) {
  std::unique_ptr<PacketCapture> c(new PacketCapture(options));
  auto writer = pcapng::Writer::make(std::move(open), {.rotate_bytes = options.rotate_bytes});
  if (!writer) return std::unexpected(writer.error());
  c->writer_ = std::move(*writer);
  c->reorder_ =
      std::make_unique<pcapng::ReorderBuffer>(static_cast<pcapng::PacketSink*>(c.get()),
                                              pcapng::ReorderOptions{.delay_ns = options.delay_ns});
  return c;
}

Result<void> PacketCapture::add_interface(const NetInterface& iface) {
  auto id = writer_->add_interface(
      {.link_type = iface.link_type, .snap_len = TLSTAP_PACKET_MAX, .name = iface.name});
  if (!id) return std::unexpected(id.error());
  interface_ids_[static_cast<uint32_t>(iface.ifindex)] = *id;
  l3_offsets_.resize(*id + 1);
  l3_offsets_[*id] = iface.l3_offset;
  return {};
}

Result<void> PacketCapture::on_packet(const capture::PacketEvent& p) {
  ++stats_.received;
  auto id = interface_ids_.find(p.ifindex);
  if (id == interface_ids_.end()) {
    ++stats_.unknown_interface;
    return {};
  }
  pcapng::Packet packet{.interface_id = id->second,
                        .ts_ns = p.ts_ns,
                        .original_len = p.wire_len,
                        .data = std::string(p.data),
                        .owner = std::nullopt};
  return reorder_->add_packet(std::move(packet));
}

Result<void> PacketCapture::on_key_line(const keys::KeyLogLine& line) {
  return reorder_->add_secrets(std::span<const keys::KeyLogLine>(&line, 1));
}

Result<void> PacketCapture::tick(uint64_t now_ns) {
  Result<void> released = reorder_->release(now_ns);
  if (!released) return released;
  // Connections seen last before the oldest held packet could still own it.
  if (now_ns >= last_expiry_ns_ + 1'000'000'000ull) {
    last_expiry_ns_ = now_ns;
    connections_.expire(now_ns, options_.idle_ns + options_.delay_ns);
  }
  return writer_->flush();
}

Result<void> PacketCapture::finish() {
  Result<void> released = reorder_->flush_all();
  if (!released) return released;
  return writer_->flush();
}

Result<void> PacketCapture::write_secrets(std::span<const keys::KeyLogLine> lines) {
  stats_.secret_lines += lines.size();
  return writer_->write_secrets(lines);
}

Result<void> PacketCapture::write_packet(const pcapng::Packet& packet) {
  std::optional<TcpTuple> tuple = parse_tcp_tuple(packet.data, l3_offsets_[packet.interface_id]);
  if (!tuple) {
    ++stats_.not_tcp;
    return {};
  }
  std::optional<pcapng::PacketOwner> owner = connections_.owner(*tuple, packet.ts_ns);
  if (!owner) {
    ++stats_.unadmitted;
    return {};
  }
  pcapng::Packet admitted = packet;
  admitted.owner = std::move(owner);
  ++stats_.written;
  return writer_->write_packet(admitted);
}

CaptureStats PacketCapture::stats() const {
  CaptureStats s = stats_;
  const pcapng::ReorderStats& r = reorder_->stats();
  s.released_early = r.released_early;
  s.late = r.late;
  s.held = r.held_packets;
  s.files = writer_->files_started();
  return s;
}

}  // namespace tlstap::packets
