#include "protocols/pgsql/types.h"

#include <algorithm>
#include <array>
#include <charconv>

namespace tlstap::protocols::pgsql {

bool IsClientTag(char tag) {
  static constexpr std::string_view kTags = "QPBDESCHXFpdcf";
  return tag != 0 && kTags.find(tag) != std::string_view::npos;
}

bool IsServerTag(char tag) {
  static constexpr std::string_view kTags = "RKSZTDCIENA123tnsGHWdcVv";
  return tag != 0 && kTags.find(tag) != std::string_view::npos;
}

std::string_view FieldReader::cstring() {
  size_t end = rest_.find('\0');
  if (end == std::string_view::npos) {
    ok_ = false;
    std::string_view all = rest_;
    rest_ = {};
    return all;
  }
  std::string_view s = rest_.substr(0, end);
  rest_.remove_prefix(end + 1);
  return s;
}

void FieldReader::skip(size_t n) {
  if (n > rest_.size()) ok_ = false;
  rest_.remove_prefix(std::min(n, rest_.size()));
}

char FieldReader::byte() {
  if (rest_.empty()) {
    ok_ = false;
    return 0;
  }
  char c = rest_[0];
  rest_.remove_prefix(1);
  return c;
}

ErrorFields ParseErrorFields(std::string_view payload) {
  ErrorFields out;
  FieldReader r(payload);
  std::string localised_severity;
  while (r.ok()) {
    char type = r.byte();
    if (type == 0) break;
    std::string_view value = r.cstring();
    if (type == 'S') localised_severity = value;
    if (type == 'V') out.severity = value;
    if (type == 'C') out.code = value;
    if (type == 'M') out.message = value;
  }
  if (out.severity.empty()) out.severity = std::move(localised_severity);
  return out;
}

int64_t RowsOfCommandTag(std::string_view tag) {
  static constexpr std::array<std::string_view, 8> kCounted = {
      "INSERT ", "DELETE ", "UPDATE ", "SELECT ", "MOVE ", "FETCH ", "COPY ", "MERGE "};
  bool counted = false;
  for (std::string_view prefix : kCounted) counted |= tag.starts_with(prefix);
  if (!counted) return -1;
  std::string_view last = tag.substr(tag.rfind(' ') + 1);
  int64_t rows = -1;
  auto [end, ec] = std::from_chars(last.data(), last.data() + last.size(), rows);
  if (ec != std::errc() || end != last.data() + last.size() || rows < 0) return -1;
  return rows;
}

std::string_view client_message_name(char tag) {
  switch (tag) {
    case 0:
      return "Startup";
    case frontend::kQuery:
      return "Query";
    case frontend::kParse:
      return "Parse";
    case frontend::kBind:
      return "Bind";
    case frontend::kDescribe:
      return "Describe";
    case frontend::kExecute:
      return "Execute";
    case frontend::kSync:
      return "Sync";
    case frontend::kClose:
      return "Close";
    case frontend::kFlush:
      return "Flush";
    case frontend::kTerminate:
      return "Terminate";
    case frontend::kFunctionCall:
      return "FunctionCall";
    case frontend::kPassword:
      return "Password";
    case frontend::kCopyData:
      return "CopyData";
    case frontend::kCopyDone:
      return "CopyDone";
    case frontend::kCopyFail:
      return "CopyFail";
  }
  return "Unknown";
}

}  // namespace tlstap::protocols::pgsql
