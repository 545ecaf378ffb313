#include "export/format.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>

namespace tlstap::exporting {

namespace {

constexpr char kBase64Alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Every 12-bit value as its two base64 characters: one lookup per 12 bits
// instead of one per 6. JSON lines base64 every captured byte; with
// libcrypto's EVP_EncodeBlock this loop was ~70 % of tlstap's CPU at 16 KiB
// events (bench/pipeline_bench.cc BM_Json measures it).
constexpr std::array<std::array<char, 2>, 4096> kBase64Pairs = [] {
  std::array<std::array<char, 2>, 4096> pairs{};
  for (size_t v = 0; v < pairs.size(); ++v) {
    pairs[v] = {kBase64Alphabet[v >> 6], kBase64Alphabet[v & 63]};
  }
  return pairs;
}();

void put_pair(char* out, uint32_t twelve_bits) {
  std::memcpy(out, kBase64Pairs[twelve_bits].data(), 2);
}

}  // namespace

void append_base64(std::string* out, std::string_view bytes) {
  const auto* in = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  const size_t start = out->size();
  out->resize(start + 4 * ((n + 2) / 3));
  char* p = out->data() + start;
  size_t i = 0;
  // Six bytes (48 bits, four pairs) per step, from one 8-byte big-endian load.
  for (; i + 8 <= n; i += 6, p += 8) {
    uint64_t word;
    std::memcpy(&word, in + i, 8);
    const uint64_t bits = __builtin_bswap64(word) >> 16;
    put_pair(p, (bits >> 36) & 0xfff);
    put_pair(p + 2, (bits >> 24) & 0xfff);
    put_pair(p + 4, (bits >> 12) & 0xfff);
    put_pair(p + 6, bits & 0xfff);
  }
  for (; i + 3 <= n; i += 3, p += 4) {
    const uint32_t bits = in[i] << 16 | in[i + 1] << 8 | in[i + 2];
    put_pair(p, bits >> 12);
    put_pair(p + 2, bits & 0xfff);
  }
  if (i < n) {  // one or two bytes left: "xx==" or "xxx="
    const uint32_t bits = in[i] << 16 | (i + 1 < n ? in[i + 1] << 8 : 0);
    put_pair(p, bits >> 12);
    p[2] = i + 1 < n ? kBase64Alphabet[(bits >> 6) & 63] : '=';
    p[3] = '=';
  }
}

std::string base64(std::string_view bytes) {
  std::string out;
  append_base64(&out, bytes);
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
