// -w FILE.pcapng as a Sink: the PacketCapture (owned by the caller) takes
// the data events (to learn connections; they are not shown), the key log
// lines and the packets. The first failure is kept: the engine says it
// and stops.
#pragma once

#include "export/sink.h"
#include "packets/packet_capture.h"

namespace tlstap::packets {

class PacketSink : public exporting::Sink {
 public:
  explicit PacketSink(PacketCapture& capture) : capture_(capture) {}

  Takes takes() const override { return {.data = true, .key_lines = true, .packets = true}; }
  void on_data(const capture::DataEvent& e) override { capture_.on_data(e); }
  void on_key_line(const keys::KeyLogLine& line) override {
    if (!failure_) keep(capture_.on_key_line(line));
  }
  void on_packet(const capture::PacketEvent& p) override {
    if (!failure_) keep(capture_.on_packet(p));
  }
  void flush(uint64_t now_ns) override {
    if (!failure_) keep(capture_.tick(now_ns));
  }
  void finish() override {
    if (!failure_) keep(capture_.finish());
  }
  std::optional<exporting::SinkFailure> failure() const override { return failure_; }

 private:
  void keep(const Result<void>& r) {
    if (!r) failure_ = exporting::SinkFailure{r.error().message};
  }

  PacketCapture& capture_;
  std::optional<exporting::SinkFailure> failure_;
};

}  // namespace tlstap::packets
