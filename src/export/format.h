// Small formatting helpers shared by exporters.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

namespace tlstap::exporting {

std::string base64(std::string_view bytes);
// The same appended to *out, so a caller builds a line in one buffer.
void append_base64(std::string* out, std::string_view bytes);
// append_base64 without the SIMD path, which it takes on CPUs with AVX2;
// tests check both against libcrypto.
void append_base64_portable(std::string* out, std::string_view bytes);
// Appends a JSON string literal, quotes included. Bytes >= 0x80 become
// \u00XX, so any comm survives as valid JSON.
void append_json_string(std::string* out, std::string_view s);
// "1.5 KiB", "3 B".
std::string human_bytes(uint64_t n);
// Printable ASCII kept, everything else as '.'.
std::string printable(std::string_view bytes);

}  // namespace tlstap::exporting
