// HTTP/1 records from reassembled connections: a streams::Sink that parses
// each connection's two directions and pairs what they carry.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <unordered_map>

#include "protocols/http1/parse.h"
#include "protocols/http1/stitch.h"
#include "streams/reassembler.h"

namespace tlstap::protocols::http1 {

struct TrackerStats {
  uint64_t records = 0, errors = 0;
  uint64_t invalid = 0;            // times bytes were not HTTP/1 where a message was expected
  uint64_t skipped_bytes = 0;      // passed over looking for a message start
  uint64_t ignored_bytes = 0;      // after a switch of protocols (101, CONNECT)
  uint64_t undecided_bytes = 0;    // before either direction showed a message start
  uint64_t interim_responses = 0;  // 1xx before a final response
  uint64_t gaps = 0;
};

class Tracker final : public streams::Sink {
 public:
  using RecordHandler = std::function<void(Record&&)>;
  explicit Tracker(RecordHandler on_record) : on_record_(std::move(on_record)) {}

  void on_data(const streams::ConnInfo& conn, capture::Dir dir, uint64_t pos,
               std::string_view bytes, uint64_t ts_ns) override;
  void on_gap(const streams::ConnInfo& conn, capture::Dir dir, uint64_t pos, uint64_t len) override;
  void on_close(const streams::ConnInfo& conn, streams::CloseReason reason) override;

  // Counters of connections closed so far plus those still open.
  TrackerStats stats() const;
  size_t connections() const { return conns_.size(); }

 private:
  struct Conn {
    ConnState state;
    Parser requests{MessageType::kRequest, &state};
    Parser responses{MessageType::kResponse, &state};
    std::deque<Message> request_queue, response_queue;
    // Which direction carries requests: tx on a client, rx on a server.
    // Decided by the first bytes that start a message.
    std::optional<capture::Dir> request_dir;
    std::array<bool, 2> missed{};  // bytes of tx/rx passed before the decision
  };

  Conn& conn(uint64_t conn_id);
  void stitch(const streams::ConnInfo& info, Conn* c, bool closed);
  static void add_parser_stats(const Parser& p, TrackerStats* s);

  RecordHandler on_record_;
  std::unordered_map<uint64_t, std::unique_ptr<Conn>> conns_;
  TrackerStats closed_;  // of connections already closed
};

}  // namespace tlstap::protocols::http1
