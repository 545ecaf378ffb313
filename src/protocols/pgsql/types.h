// PostgreSQL frontend/backend protocol 3.0 messages as parsed from one
// direction of a connection (https://www.postgresql.org/docs/15/protocol-message-formats.html).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tlstap::protocols::pgsql {

// The client's first message has no tag: int32 length, int32 code.
inline constexpr uint32_t kProtocolMajor3 = 3;        // StartupMessage: code = 3 << 16 | minor
inline constexpr uint32_t kMaxStartupLength = 10000;  // the server's own bound
// The server refuses messages over 1 GiB (MaxAllocSize); a longer length
// is not PostgreSQL.
inline constexpr uint32_t kMaxMessageLength = 0x40000000;
inline constexpr size_t kHeaderSize = 5;  // tag, int32 length (which counts itself)

// Tags of the messages a client sends.
namespace frontend {
inline constexpr char kQuery = 'Q';
inline constexpr char kParse = 'P';
inline constexpr char kBind = 'B';
inline constexpr char kDescribe = 'D';
inline constexpr char kExecute = 'E';
inline constexpr char kSync = 'S';
inline constexpr char kClose = 'C';
inline constexpr char kFlush = 'H';
inline constexpr char kTerminate = 'X';
inline constexpr char kFunctionCall = 'F';
inline constexpr char kPassword = 'p';  // also SASL and GSS responses
inline constexpr char kCopyData = 'd';
inline constexpr char kCopyDone = 'c';
inline constexpr char kCopyFail = 'f';
}  // namespace frontend

// Tags of the messages a server sends.
namespace backend {
inline constexpr char kAuthentication = 'R';
inline constexpr char kBackendKeyData = 'K';
inline constexpr char kParameterStatus = 'S';
inline constexpr char kReadyForQuery = 'Z';
inline constexpr char kRowDescription = 'T';
inline constexpr char kDataRow = 'D';
inline constexpr char kCommandComplete = 'C';
inline constexpr char kEmptyQueryResponse = 'I';
inline constexpr char kErrorResponse = 'E';
inline constexpr char kNoticeResponse = 'N';
inline constexpr char kNotificationResponse = 'A';
inline constexpr char kParseComplete = '1';
inline constexpr char kBindComplete = '2';
inline constexpr char kCloseComplete = '3';
inline constexpr char kParameterDescription = 't';
inline constexpr char kNoData = 'n';
inline constexpr char kPortalSuspended = 's';
inline constexpr char kCopyInResponse = 'G';
inline constexpr char kCopyOutResponse = 'H';
inline constexpr char kCopyBothResponse = 'W';
inline constexpr char kCopyData = 'd';
inline constexpr char kCopyDone = 'c';
inline constexpr char kFunctionCallResponse = 'V';
inline constexpr char kNegotiateProtocolVersion = 'v';
}  // namespace backend

// Whether tag starts a message of the client's (or the server's) direction.
bool IsClientTag(char tag);
bool IsServerTag(char tag);

struct Message {
  char tag = 0;  // 0: the client's untagged first message (StartupMessage)
  // The length field: the payload plus its own 4 bytes.
  uint32_t length = 0;
  // The payload's first bytes (all of it up to the parser's bound), kept
  // only for the messages records read (MessageParser says which).
  std::string payload;
  bool payload_cut = false;  // the payload was longer than what was kept
  bool lost = false;         // bytes of the payload were lost (a gap inside it)
  // Return times of the calls carrying its first and last byte.
  uint64_t first_ts_ns = 0, last_ts_ns = 0;

  // Bytes on the wire: the tag (if any) and the length field included.
  uint64_t wire_size() const { return length + (tag ? 1 : 0); }
};

// Reads the fields of a payload in order; a field that runs past the end
// comes back as what there is, and ok() turns false.
class FieldReader {
 public:
  explicit FieldReader(std::string_view payload) : rest_(payload) {}
  std::string_view cstring();  // up to its NUL, which is consumed
  char byte();
  void skip(size_t n);
  bool ok() const { return ok_; }
  std::string_view rest() const { return rest_; }

 private:
  std::string_view rest_;
  bool ok_ = true;
};

// The fields of an ErrorResponse (or NoticeResponse) records use.
struct ErrorFields {
  std::string severity;  // 'V' (not localised), else 'S'
  std::string code;      // 'C': SQLSTATE, "42P01"
  std::string message;   // 'M'
};
ErrorFields ParseErrorFields(std::string_view payload);

// The row count at the end of a CommandComplete tag: "SELECT 3" → 3,
// "INSERT 0 1" → 1, "UPDATE 2", "DELETE", "MOVE", "FETCH", "COPY", "MERGE";
// -1 for tags without one ("CREATE TABLE", "BEGIN").
int64_t RowsOfCommandTag(std::string_view tag);

// "Query", "Parse", ... for a client tag; "Startup" for 0.
std::string_view client_message_name(char tag);

}  // namespace tlstap::protocols::pgsql
