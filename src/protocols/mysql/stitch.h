// One MySQL connection's conversation, from the packets of both
// directions: the authentication phase (no records), then each command
// paired with its response into a Record the moment the response is
// whole. The classic protocol answers commands in order, so the oldest
// command waiting takes the next response; MariaDB's connectors may send
// a COM_STMT_PREPARE and its COM_STMT_EXECUTE back to back, hence a queue.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>

#include "protocols/mysql/parse.h"
#include "protocols/mysql/types.h"

namespace tlstap::protocols::mysql {

class Conversation {
 public:
  using RecordHandler = std::function<void(Record&&)>;
  Conversation(const Limits& limits, Stats* stats) : limits_(limits), stats_(stats) {}

  // A whole packet of the client's direction.
  void on_request(const Packet& p, const RecordHandler& emit);
  // A whole packet of the server's direction.
  void on_response(const Packet& p, const RecordHandler& emit);
  // The server's direction lost its framing: the response in progress
  // ends as a record with an error, and the direction is parsed again from
  // the response to a command sent after this (resume_responses()).
  void on_responses_lost(const RecordHandler& emit);
  // A command was sent since the responses' framing was lost: the server's
  // next call may start its response.
  bool may_resume_responses() const { return skip_responses_ && commands_since_skip_; }
  // The connection ended: commands still waiting become records with an error.
  void close(const RecordHandler& emit);

  // The client asked for the compressed protocol: packets are zlib frames
  // from here, which this parser does not read.
  bool compressed() const { return compressed_; }
  // CLIENT_DEPRECATE_EOF: from the HandshakeResponse41, else inferred from
  // the first result set; nullopt while unknown.
  std::optional<bool> deprecate_eof() const { return deprecate_eof_; }

 private:
  enum class Phase : uint8_t { kStart, kAuth, kCommand };
  // Where a command's response is: which packet comes next.
  enum class Stage : uint8_t {
    kFirst,        // OK, ERR, LOCAL INFILE request, or a result set's column count
    kColumns,      // column definitions (remaining)
    kColumnsEof,   // the EOF after them unless CLIENT_DEPRECATE_EOF
    kRows,         // rows up to an EOF (or OK with 0xfe) or ERR
    kParams,       // COM_STMT_PREPARE: parameter definitions (remaining)
    kParamsEof,    // and their EOF
    kPrepColumns,  // then column definitions (remaining)
    kPrepColumnsEof,
    kInfile,     // LOCAL INFILE: the client sends the file; an OK or ERR ends it
    kFieldList,  // COM_FIELD_LIST: column definitions up to an EOF
    kAuth,       // COM_CHANGE_USER: authentication packets up to an OK or ERR
  };
  struct Exchange {
    int command = -1;  // the command byte; -1 when the request was not captured
    std::string target;
    // Statement commands: the id, resolved to the prepared text when the
    // record is made (an execute may be sent before its prepare's reply).
    std::optional<uint32_t> statement_id;
    uint64_t request_bytes = 0, response_bytes = 0;
    uint64_t first_ts_ns = 0, response_first_ts_ns = 0, last_ts_ns = 0;
    bool request_cut = false, response_cut = false, responded = false;
    uint8_t next_seq = 1;  // the sequence id the response's next packet carries
    Stage stage = Stage::kFirst;
    uint64_t remaining = 0;  // definitions still to come
    uint16_t prep_columns = 0;
    int64_t rows = -1;
    int status = 0;
    std::string error_code, error_message;
  };

  void start_command(const Packet& p, const RecordHandler& emit);
  // Takes one response packet; true when it ended the response.
  bool advance(Exchange* c, const Packet& p);
  // The response's next stage after its column definitions.
  Stage after_columns() const;
  bool ends_rows(const Packet& p) const;
  std::string statement(uint32_t id) const;
  void finish(Exchange* c, std::string error, const RecordHandler& emit);
  void confused(const RecordHandler& emit);

  Limits limits_;
  Stats* stats_;
  Phase phase_ = Phase::kStart;
  std::optional<bool> deprecate_eof_;
  bool compressed_ = false, query_attributes_ = false;
  std::deque<Exchange> pending_;
  std::unordered_map<uint32_t, std::string> prepared_;  // statement id: its text
  uint32_t last_prepared_ = kLastPreparedStatement;
  bool skip_responses_ = false, commands_since_skip_ = false;
};

}  // namespace tlstap::protocols::mysql
