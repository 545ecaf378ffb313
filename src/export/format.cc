#include "export/format.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdio>

namespace tlstap::exporting {

void base64_into(std::string_view bytes, std::string* out) {
  out->resize(4 * ((bytes.size() + 2) / 3) + 1);
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out->data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out->resize(n);
}

std::string base64(std::string_view bytes) {
  std::string out;
  base64_into(bytes, &out);
  return out;
}

void append_json_string(std::string* out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  auto plain = [](unsigned char c) { return c >= 0x20 && c < 0x7f && c != '"' && c != '\\'; };
  out->push_back('"');
  if (std::all_of(s.begin(), s.end(), plain)) {  // the usual comm: no escapes
    out->append(s);
    out->push_back('"');
    return;
  }
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xf]);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

std::string human_bytes(uint64_t n) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  if (n < 1024) return std::to_string(n) + " B";
  double v = static_cast<double>(n);
  int unit = 0;
  while (v >= 1024 && unit < 4) {
    v /= 1024;
    ++unit;
  }
  char buf[32];
  snprintf(buf, sizeof(buf), "%.1f %s", v, kUnits[unit]);
  return buf;
}

std::string printable(std::string_view bytes) {
  std::string out(bytes);
  for (char& c : out) {
    if (c < 0x20 || c > 0x7e) c = '.';
  }
  return out;
}

}  // namespace tlstap::exporting
