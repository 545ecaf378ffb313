#include "protocols/parse_state.h"

namespace tlstap::protocols {

std::string_view parse_state_name(ParseState state) {
  switch (state) {
    case ParseState::kInvalid:
      return "invalid";
    case ParseState::kNeedsMoreData:
      return "needs_more_data";
    case ParseState::kIgnored:
      return "ignored";
    case ParseState::kEndOfStream:
      return "end_of_stream";
    case ParseState::kSuccess:
      return "success";
  }
  return "?";
}

}  // namespace tlstap::protocols
