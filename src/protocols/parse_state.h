// What one ParseFrame call found, for every protocol. Each protocol's
// parse.h says exactly how much of the input each state consumes.
#pragma once

#include <cstdint>
#include <string_view>

namespace tlstap::protocols {

enum class ParseState : uint8_t {
  kInvalid,        // not this protocol here; the parser will resynchronise at a frame boundary
  kNeedsMoreData,  // the frame is not complete yet
  kIgnored,        // bytes consumed that belong to no frame worth reporting
  kEndOfStream,    // the connection stopped speaking this protocol; nothing more will be parsed
  kSuccess,        // one frame complete
};

std::string_view parse_state_name(ParseState state);

}  // namespace tlstap::protocols
