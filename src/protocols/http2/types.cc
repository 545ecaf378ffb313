#include "protocols/http2/types.h"

#include <array>

namespace tlstap::protocols::http2 {

std::string_view frame_type_name(uint8_t type) {
  static constexpr std::array<std::string_view, 10> kNames = {
      "DATA",         "HEADERS", "PRIORITY", "RST_STREAM",    "SETTINGS",
      "PUSH_PROMISE", "PING",    "GOAWAY",   "WINDOW_UPDATE", "CONTINUATION"};
  return type < kNames.size() ? kNames[type] : "UNKNOWN";
}

std::string error_code_name(uint32_t code) {
  static constexpr std::array<std::string_view, 14> kNames = {"NO_ERROR",
                                                              "PROTOCOL_ERROR",
                                                              "INTERNAL_ERROR",
                                                              "FLOW_CONTROL_ERROR",
                                                              "SETTINGS_TIMEOUT",
                                                              "STREAM_CLOSED",
                                                              "FRAME_SIZE_ERROR",
                                                              "REFUSED_STREAM",
                                                              "CANCEL",
                                                              "COMPRESSION_ERROR",
                                                              "CONNECT_ERROR",
                                                              "ENHANCE_YOUR_CALM",
                                                              "INADEQUATE_SECURITY",
                                                              "HTTP_1_1_REQUIRED"};
  if (code < kNames.size()) return std::string(kNames[code]);
  return "error " + std::to_string(code);
}

}  // namespace tlstap::protocols::http2
