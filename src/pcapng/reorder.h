// Holds packets back so the secrets that decrypt them get into the file
// first.
//
// A TLS 1.3 session's first encrypted records (the server's
// EncryptedExtensions, Certificate, Finished) cross the interface before
// the client has derived the handshake secret from the ServerHello; the
// secret then travels through a uprobe, the ring buffer and user space.
// tshark decrypts a record only with secrets met earlier in the file, so
// packets wait here, ordered by timestamp, until `delay` has passed since
// they were taken, while secrets go straight to the file.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <utility>

#include "pcapng/writer.h"

namespace tlstap::pcapng {

struct ReorderOptions {
  // How long a packet waits. The gap to cover is from a handshake packet at
  // the interface to its secret reaching user space: one scheduling of the
  // TLS process to finish its handshake step plus one ring-buffer poll,
  // milliseconds when idle but hundreds of milliseconds on a host with
  // every CPU busy. 2 s is an order of magnitude beyond that, and still
  // short enough for a capture watched live.
  uint64_t delay_ns = 2'000'000'000;
  // Bound on the bytes held. At 1 Gbit/s, 2 s of packets are ~250 MB; past
  // the bound the oldest packets go out early (counted in released_early):
  // a packet written before its secret stays encrypted in Wireshark, which
  // is better than tlstap running out of memory.
  uint64_t max_held_bytes = 256ull << 20;
};

struct ReorderStats {
  uint64_t released = 0;
  // Released before their delay passed, to stay under max_held_bytes.
  uint64_t released_early = 0;
  // Arrived with a timestamp older than a packet already released: written
  // after it, out of order (a CPU's ring buffer drained late).
  uint64_t late = 0;
  uint64_t held_packets = 0;
  uint64_t held_bytes = 0;
};

class ReorderBuffer {
 public:
  // sink outlives the buffer.
  explicit ReorderBuffer(PacketSink* sink, ReorderOptions options = {})
      : sink_(sink), options_(options) {}

  // Holds packet until release() passes its timestamp; may release the
  // oldest packets at once to stay under max_held_bytes.
  Result<void> add_packet(Packet packet);

  // Written to the sink now: ahead of every packet released after this call.
  Result<void> add_secrets(std::span<const keys::KeyLogLine> lines);

  // Releases, oldest first, the packets with ts_ns + delay <= now_ns. now_ns
  // is on the packets' clock.
  Result<void> release(uint64_t now_ns);

  // Releases everything held (at exit).
  Result<void> flush_all();

  const ReorderStats& stats() const { return stats_; }

 private:
  Result<void> release_oldest(bool early);

  PacketSink* sink_;
  ReorderOptions options_;
  // Keyed by (timestamp, arrival number): equal timestamps keep arrival order.
  std::map<std::pair<uint64_t, uint64_t>, Packet> held_;
  uint64_t arrivals_ = 0;
  uint64_t newest_released_ns_ = 0;
  bool released_any_ = false;
  ReorderStats stats_;
};

}  // namespace tlstap::pcapng
