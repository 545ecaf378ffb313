// -w FILE.pcapng: TC packets, held in a reorder buffer, admitted when their
// connection belongs to a traced process, and written with the TLS secrets
// that decrypt them (a Decryption Secrets Block ahead of the packets).
//
//   PacketEvent ─► ReorderBuffer (delay) ─► admission (Connections) ─► Writer
//   DataEvent ───► Connections (learn tuple, pid, comm)                  ▲
//   key log line ───────────────────────────────────────────────────────┘ at once
//
// Admission is decided when a packet leaves the buffer, so a connection's
// SYN and handshake, held for the delay, are admitted once its first TLS
// call (milliseconds later) has named the connection.
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "capture/events.h"
#include "keys/key_log.h"
#include "packets/connections.h"
#include "packets/interfaces.h"
#include "pcapng/reorder.h"
#include "pcapng/writer.h"
#include "util/error.h"

namespace tlstap::packets {

struct CaptureOptions {
  uint64_t delay_ns = pcapng::ReorderOptions{}.delay_ns;
  uint64_t rotate_bytes = 0;  // 0: one file
  // A connection neither used nor seen this long is forgotten.
  uint64_t idle_ns = 300'000'000'000ull;
};

struct CaptureStats {
  uint64_t received = 0;    // packets from the kernel
  uint64_t written = 0;     // admitted and in the file
  uint64_t unadmitted = 0;  // no traced process's connection: left out
  uint64_t not_tcp = 0;     // headers unreadable: left out
  uint64_t unknown_interface = 0;
  uint64_t released_early = 0;  // left the buffer before the delay (memory bound)
  uint64_t late = 0;            // arrived after a newer packet was written
  uint64_t held = 0;            // still in the buffer (0 after finish)
  uint64_t secret_lines = 0;
  unsigned files = 0;
};

class PacketCapture : private pcapng::PacketSink {
 public:
  static Result<std::unique_ptr<PacketCapture>> make(pcapng::OutputOpener open,
                                                     CaptureOptions options);

  // Describes an interface in the file; its packets are taken from now on.
  Result<void> add_interface(const NetInterface& iface);

  // A TLS event: learns its connection.
  void on_data(const capture::DataEvent& e) { connections_.learn(e); }
  // A packet from the kernel (ts_ns CLOCK_REALTIME): held until its delay passes.
  Result<void> on_packet(const capture::PacketEvent& p);
  // A secret: into the file now, ahead of every packet still held.
  Result<void> on_key_line(const keys::KeyLogLine& line);
  // Releases packets whose delay has passed (now_ns: CLOCK_REALTIME).
  Result<void> tick(uint64_t now_ns);
  // At exit: everything held goes out (admitted or not), the file is flushed.
  Result<void> finish();

  CaptureStats stats() const;

 private:
  PacketCapture(CaptureOptions options) : options_(options) {}
  // pcapng::PacketSink: what the reorder buffer releases.
  Result<void> write_secrets(std::span<const keys::KeyLogLine> lines) override;
  Result<void> write_packet(const pcapng::Packet& packet) override;

  CaptureOptions options_;
  std::unique_ptr<pcapng::Writer> writer_;
  std::unique_ptr<pcapng::ReorderBuffer> reorder_;
  Connections connections_;
  std::unordered_map<uint32_t, uint32_t> interface_ids_;  // ifindex -> IDB index
  std::vector<uint32_t> l3_offsets_;                      // by IDB index
  uint64_t last_expiry_ns_ = 0;
  CaptureStats stats_;
};

}  // namespace tlstap::packets
