// HTTP/2 records from reassembled connections: a streams::Sink that finds
// the client's direction from the connection's first bytes, parses both
// directions into frames and pairs each stream's request and response.
// Connections must be seen from their start: HPACK state is built from
// every header block since the preface.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <unordered_map>

#include "protocols/http2/parse.h"
#include "protocols/http2/stitch.h"
#include "streams/reassembler.h"

namespace tlstap::protocols::http2 {

class Tracker final : public streams::Sink {
 public:
  using RecordHandler = std::function<void(Record&&)>;
  explicit Tracker(RecordHandler on_record, Limits limits = {})
      : on_record_(std::move(on_record)), limits_(limits) {}

  // The first bytes of the connection (whichever direction comes first)
  // must be whole enough for ClassifyOpening to say kClient or kServer
  // (cli's router hands them so); otherwise the connection is not parsed
  // (counted in invalid).
  void on_data(const streams::ConnInfo& conn, capture::Dir dir, uint64_t pos,
               std::string_view bytes, uint64_t ts_ns) override;
  void on_gap(const streams::ConnInfo& conn, capture::Dir dir, uint64_t pos, uint64_t len) override;
  void on_close(const streams::ConnInfo& conn, streams::CloseReason reason) override;

  const Stats& stats() const { return stats_; }
  size_t connections() const { return conns_.size(); }

 private:
  struct Conn {
    std::optional<capture::Dir> client_dir;               // decided by the first bytes
    bool given_up = false;                                // not HTTP/2 from its start
    std::array<bool, 2> missed{};                         // a gap in tx/rx before the decision
    std::array<std::unique_ptr<FrameParser>, 2> parsers;  // tx, rx
    std::unique_ptr<Connection> streams;
  };

  Conn& conn(uint64_t conn_id);
  void emit(const streams::ConnInfo& info, const Conn& c, Record&& r);

  RecordHandler on_record_;
  Limits limits_;
  Stats stats_;
  std::unordered_map<uint64_t, std::unique_ptr<Conn>> conns_;
};

}  // namespace tlstap::protocols::http2
