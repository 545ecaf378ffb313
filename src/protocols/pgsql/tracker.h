// PostgreSQL records from reassembled connections: a streams::Sink that
// finds the client's direction from the connection's first bytes (the
// StartupMessage, or the server's Authentication), parses both directions
// into messages and pairs them (stitch.h says what one record is).
// Connections must be seen from their start: the client's direction opens
// with its untagged StartupMessage, and named statements are learnt from
// their Parse.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <unordered_map>

#include "protocols/pgsql/parse.h"
#include "protocols/pgsql/stitch.h"
#include "streams/reassembler.h"

namespace tlstap::protocols::pgsql {

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

  // Counters of connections closed so far plus those still open.
  Stats stats() const;
  size_t connections() const { return conns_.size(); }

 private:
  struct Conn {
    Conn(const Limits& limits, Stats* stats, capture::Dir client)
        : client_dir(client),
          parsers{MessageParser(client == capture::Dir::kTx, limits.max_message_kept),
                  MessageParser(client == capture::Dir::kRx, limits.max_message_kept)},
          commands(limits, stats) {}
    capture::Dir client_dir;
    std::array<MessageParser, 2> parsers;  // tx, rx
    Connection commands;
  };

  void emit(const streams::ConnInfo& info, const Conn& c, Record&& r);
  static void add_parser_stats(const MessageParser& p, Stats* s);

  RecordHandler on_record_;
  Limits limits_;
  Stats closed_;  // commands' counters (all connections) and closed connections' parsers'
  std::unordered_map<uint64_t, std::unique_ptr<Conn>> conns_;
  std::unordered_map<uint64_t, bool> given_up_;  // not PostgreSQL from its start
};

}  // namespace tlstap::protocols::pgsql
