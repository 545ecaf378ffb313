#include "protocols/http1/types.h"

#include <algorithm>
#include <cctype>

namespace tlstap::protocols::http1 {

std::string_view Message::header(std::string_view name) const {
  auto same = [&](const std::string& key) {
    return std::equal(key.begin(), key.end(), name.begin(), name.end(), [](char a, char b) {
      return std::tolower(static_cast<unsigned char>(a)) ==
             std::tolower(static_cast<unsigned char>(b));
    });
  };
  for (const auto& [key, value] : headers)
    if (same(key)) return value;
  return {};
}

}  // namespace tlstap::protocols::http1
