// One PostgreSQL connection's commands, from the messages of both
// directions. The server answers the client's messages in the order it
// sent them, so each client message that expects an answer waits in a
// queue, and each server message goes to the oldest one waiting.
//
// What one record is:
//  - a simple Query ('Q'): its whole answer up to ReadyForQuery. Several
//    statements in one Query ("SELECT 1; SELECT 2") are one record; rows
//    is the sum of the row counts of their CommandComplete tags (-1 when
//    no tag carried one), and the first ErrorResponse makes it an error;
//  - an Execute of the extended protocol: target is the text of the
//    statement its portal was bound to (Parse → Bind → Execute, named
//    statements remembered per connection); its request counts the Parse,
//    Bind and Describe sent before it and the Sync after it, its response
//    what answered them, up to ReadyForQuery;
//  - a Parse, Bind, Describe or Close only when the server answered it with
//    an ErrorResponse (the server then skips to the next Sync, so that
//    failure is the batch's record: an Execute skipped with it makes none);
//  - a FunctionCall ('F'), like a Query;
//  - the startup only when it fails (method "Startup", target the database).
// COPY inside a Query or Execute stays in its record: CopyData is counted
// on both sides, and the tag "COPY n" gives the rows.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>

#include "protocols/pgsql/types.h"
#include "protocols/record.h"

namespace tlstap::protocols::pgsql {

struct Limits {
  size_t max_message_kept = 8192;  // payload bytes kept of the messages records read
  size_t max_text_kept = 4096;     // statement texts and error messages are cut to this
  size_t max_statements = 256;     // named statements and portals remembered per connection
  size_t max_waiting = 1024;       // client messages waiting for an answer per connection
};

struct Stats {
  uint64_t records = 0;
  uint64_t errors = 0;         // records with a capture error (Record::error)
  uint64_t db_errors = 0;      // records the server answered with an ErrorResponse
  uint64_t gaps = 0;           // gaps in the streams of PostgreSQL connections
  uint64_t invalid = 0;        // bytes that were no message where one was expected
  uint64_t skipped_bytes = 0;  // passed over looking for a message start
  uint64_t unmatched = 0;      // server messages that answered no client message seen
  uint64_t cut = 0;            // payloads or texts kept only in part (over the bounds)
  // Client messages not waited for (Limits::max_waiting) and statements
  // not remembered (Limits::max_statements).
  uint64_t overflows = 0;
  uint64_t copy_data = 0;  // CopyData messages, both directions
  uint64_t async = 0;      // NoticeResponse, ParameterStatus, NotificationResponse
};

class Connection {
 public:
  using RecordHandler = std::function<void(Record&&)>;
  Connection(const Limits& limits, Stats* stats) : limits_(limits), stats_(stats) {}

  void on_client_message(const Message& m);
  void on_server_message(const Message& m, const RecordHandler& emit);
  // Bytes of the server's direction were lost: the answer in progress is
  // marked cut short. framing_lost: whole messages may be gone too, so the
  // next server message found answers the latest client write sent before
  // it; the messages waiting from before that write lost their answers.
  void on_server_gap(bool framing_lost);
  // The connection ended: a finished record still waiting for its Sync is
  // made, and every command waiting for its answer becomes a record with
  // an error.
  void close(const RecordHandler& emit);

  size_t waiting() const { return waiting_.size(); }

 private:
  // A client message waiting for the server's answer.
  struct Waiting {
    char tag = 0;
    std::string text;  // Query, FunctionCall: the statement; startup: the database
    std::string name;  // Parse: the statement; Bind, Execute: the portal; Describe, Close: either
    std::string statement;  // Bind: the statement bound
    char kind = 0;          // Describe, Close: 'S' statement or 'P' portal
    uint64_t request_bytes = 0, response_bytes = 0;
    uint64_t first_ts_ns = 0, last_ts_ns = 0;  // request's first byte, answer's last
    int64_t rows = -1, data_rows = 0;
    bool answered = false;  // some answer seen
    bool failed = false;
    bool cut = false;  // bytes of the answer were lost
    ErrorFields error;
  };

  void wait_for(Waiting w);
  // The answer to front() is complete (or failed): records, statements.
  void complete(const RecordHandler& emit);
  Record make(const Waiting& w, std::string_view method) const;
  void emit_now(Record r, const RecordHandler& emit);  // counted in stats_
  void emit_pending(const RecordHandler& emit);
  // The server skipped to the next Sync after an error: the messages it
  // skipped count in the failed record's request.
  void skip_to_sync();
  // Pops waiting messages older than one a server message fits (their
  // answers were lost); false when none fits.
  bool find_fit(char server_tag, size_t from, const RecordHandler& emit);
  // text cut to Limits::max_text_kept (counted).
  std::string keep(std::string_view text) const;
  std::string statement_text(const std::string& portal) const;

  Limits limits_;
  Stats* stats_;
  std::deque<Waiting> waiting_;
  // Bytes and first time of answered Parse/Bind/Describe/Close, counted in
  // the next record.
  uint64_t carry_request_ = 0, carry_response_ = 0, carry_first_ts_ = 0;
  // A record made but not emitted: it waits for the Sync after it.
  std::optional<Record> pending_;
  bool skipping_ = false;
  bool server_resync_ = false;  // the server's framing was lost: see on_server_gap  // an
                                // extended-protocol error: the server skips to Sync
  std::unordered_map<std::string, std::string> statements_;  // name → text
  std::unordered_map<std::string, std::string> portals_;     // name → statement text
};

}  // namespace tlstap::protocols::pgsql
