// MySQL records from reassembled connections: a streams::Sink that finds
// the client's direction from the connection's first bytes over TLS (the
// HandshakeResponse41, the server's reply to it, or a whole command when
// tlstap started later), parses both directions into packets and pairs
// each command with its response (Conversation).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <unordered_map>

#include "protocols/mysql/parse.h"
#include "protocols/mysql/stitch.h"
#include "streams/reassembler.h"

namespace tlstap::protocols::mysql {

class Tracker final : public streams::Sink {
 public:
  using RecordHandler = std::function<void(Record&&)>;
  explicit Tracker(RecordHandler on_record, Limits limits = {})
      : on_record_(std::move(on_record)), limits_(limits) {}

  void on_data(const streams::ConnInfo& conn, capture::Dir dir, uint64_t pos,
               std::string_view bytes, uint64_t ts_ns) override;
  // Inside a packet's payload the packet is marked cut and parsing goes on;
  // over a header the direction looks for the next packet start: the
  // client's at a command header (FindCommandStart), the server's at the
  // first call after the client's next command.
  void on_gap(const streams::ConnInfo& conn, capture::Dir dir, uint64_t pos, uint64_t len) override;
  void on_close(const streams::ConnInfo& conn, streams::CloseReason reason) override;

  const Stats& stats() const { return stats_; }
  size_t connections() const { return conns_.size(); }

 private:
  struct Conn {
    explicit Conn(const Limits& limits, Stats* stats)
        : parsers{PacketParser(limits.max_payload_kept), PacketParser(limits.max_payload_kept)},
          conversation(limits, stats) {}
    std::optional<capture::Dir> client_dir;  // decided by the first bytes
    std::array<bool, 2> missed{};            // tx/rx bytes passed (or lost) before the decision
    bool given_up = false;                   // the compressed protocol
    std::array<PacketParser, 2> parsers;     // tx, rx
    Conversation conversation;
  };

  Conn& conn(uint64_t conn_id);
  void emit(const streams::ConnInfo& info, const Conn& c, Record&& r);
  // Hands a whole packet to the conversation.
  void deliver(const streams::ConnInfo& info, Conn* c, bool from_client, const Packet& p);
  // Looks for a packet start in a direction whose framing is lost; false
  // when *bytes holds none (all of it skipped).
  bool resync(Conn* c, bool from_client, std::string_view* bytes);

  RecordHandler on_record_;
  Limits limits_;
  Stats stats_;
  std::unordered_map<uint64_t, std::unique_ptr<Conn>> conns_;
};

}  // namespace tlstap::protocols::mysql
