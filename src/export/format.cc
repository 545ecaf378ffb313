#include "export/format.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

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

namespace {

// The portable encoder from position i on (out points at i's characters).
void encode_base64_tail(const unsigned char* in, size_t n, size_t i, char* p) {
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

#if defined(__x86_64__)
// 24 bytes to 32 characters per step with AVX2, after Muła and Lemire,
// "Faster Base64 Encoding and Decoding Using AVX2 Instructions" (2018). Even
// the pair table left base64 at ~65 % of tlstap's CPU when capturing 16 KiB
// calls; with this, bench/pipeline_bench.cc BM_Json at 16 KiB went from 2.7 to
// 5.5 GB/s on the development VM. Returns where it stopped; the portable loop
// does the rest.
__attribute__((target("avx2"))) size_t encode_base64_avx2(const unsigned char* in, size_t n,
                                                          char* out) {
  // Within each 128-bit lane, the 3-byte group a,b,c becomes the dword
  // b,a,c,b: its 16-bit halves are a:b and b:c, so each 6-bit index sits in a
  // known bit range of one half.
  const __m256i spread = _mm256_setr_epi8(1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10,  //
                                          1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10);
  // Index 0-25 -> 'A'.., 26-51 -> 'a'.., 52-61 -> '0'.., 62 -> '+', 63 -> '/':
  // the offset to add, looked up by a class number computed below.
  const __m256i offsets =
      _mm256_setr_epi8(71, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -19, -16, 65, 0, 0,  //
                       71, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -19, -16, 65, 0, 0);
  size_t i = 0;
  // Each step reads 28 bytes (two 16-byte loads 12 apart) and uses 24.
  for (; i + 28 <= n; i += 24, out += 32) {
    const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i));
    const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i + 12));
    const __m256i bytes =
        _mm256_shuffle_epi8(_mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1), spread);
    // Indices 0 and 2 (top six bits of each half) shifted down by 10 and 6;
    // indices 1 and 3 shifted up by 4 and 8, into bytes 1 and 3.
    const __m256i even = _mm256_mulhi_epu16(_mm256_and_si256(bytes, _mm256_set1_epi32(0x0fc0fc00)),
                                            _mm256_set1_epi32(0x04000040));
    const __m256i odd = _mm256_mullo_epi16(_mm256_and_si256(bytes, _mm256_set1_epi32(0x003f03f0)),
                                           _mm256_set1_epi32(0x01000010));
    const __m256i indices = _mm256_or_si256(even, odd);
    // Class: 0 for 26-51, 1-12 for 52-63, 13 for 0-25.
    __m256i cls = _mm256_subs_epu8(indices, _mm256_set1_epi8(51));
    cls = _mm256_or_si256(cls, _mm256_and_si256(_mm256_cmpgt_epi8(_mm256_set1_epi8(26), indices),
                                                _mm256_set1_epi8(13)));
    const __m256i chars = _mm256_add_epi8(indices, _mm256_shuffle_epi8(offsets, cls));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), chars);
  }
  return i;
}

const bool kHaveAvx2 = __builtin_cpu_supports("avx2");
#endif

}  // namespace

void append_base64(std::string* out, std::string_view bytes) {
  const auto* in = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  const size_t start = out->size();
  const size_t encoded = 4 * ((n + 2) / 3);
  // Every byte of the new room is written here: no zero-fill first. The
  // size is returned from here, not taken from the callback's argument:
  // libstdc++ 12 passes the grown capacity there, not the size asked for.
  out->resize_and_overwrite(start + encoded, [&](char* buf, size_t) {
    char* p = buf + start;
    size_t i = 0;
#if defined(__x86_64__)
    if (kHaveAvx2) i = encode_base64_avx2(in, n, p);
#endif
    encode_base64_tail(in, n, i, p + i / 3 * 4);
    return start + encoded;
  });
}

void append_base64_portable(std::string* out, std::string_view bytes) {
  const size_t start = out->size();
  out->resize(start + 4 * ((bytes.size() + 2) / 3));
  encode_base64_tail(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), 0,
                     out->data() + start);
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
