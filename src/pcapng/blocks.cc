#include "pcapng/blocks.h"

#include <algorithm>

namespace tlstap::pcapng {
namespace {

// Option codes (pcapng, section 3.5 and each block's list).
constexpr uint16_t kOptEndOfOpt = 0;
constexpr uint16_t kOptComment = 1;
constexpr uint16_t kShbUserAppl = 4;
constexpr uint16_t kIfName = 2;
constexpr uint16_t kIfTsresol = 9;

constexpr uint32_t kByteOrderMagic = 0x1a2b3c4d;
constexpr uint8_t kNanoseconds = 9;  // if_tsresol: 10^-9 s

void put16(std::string* out, uint16_t v) {
  out->push_back(static_cast<char>(v & 0xff));
  out->push_back(static_cast<char>(v >> 8));
}

void put32(std::string* out, uint32_t v) {
  for (int shift = 0; shift < 32; shift += 8) out->push_back(static_cast<char>(v >> shift));
}

void pad_to_32_bits(std::string* out) {
  while (out->size() % 4 != 0) out->push_back('\0');
}

void put_option(std::string* out, uint16_t code, std::string_view value) {
  put16(out, code);
  put16(out, static_cast<uint16_t>(value.size()));
  out->append(value);
  pad_to_32_bits(out);
}

void put_end_of_options(std::string* out) {
  put16(out, kOptEndOfOpt);
  put16(out, 0);
}

// Starts a block: type and a placeholder for its length, returned as the
// block's offset for finish_block.
size_t begin_block(std::string* out, uint32_t type) {
  size_t start = out->size();
  put32(out, type);
  put32(out, 0);
  return start;
}

// Ends a block: the total length goes at both ends (readers walk backwards
// with the trailing copy).
void finish_block(std::string* out, size_t start) {
  uint32_t length = static_cast<uint32_t>(out->size() - start + 4);
  put32(out, length);
  for (int i = 0; i < 4; ++i) (*out)[start + 4 + i] = static_cast<char>(length >> (8 * i));
}

}  // namespace

void append_section_header(std::string* out, std::string_view application) {
  size_t start = begin_block(out, kSectionHeader);
  put32(out, kByteOrderMagic);
  put16(out, 1);           // major version
  put16(out, 0);           // minor version
  put32(out, 0xffffffff);  // section length: -1, not known in advance
  put32(out, 0xffffffff);
  put_option(out, kShbUserAppl, application);
  put_end_of_options(out);
  finish_block(out, start);
}

void append_interface_description(std::string* out, const Interface& interface) {
  size_t start = begin_block(out, kInterfaceDescription);
  put16(out, interface.link_type);
  put16(out, 0);  // reserved
  put32(out, interface.snap_len);
  if (!interface.name.empty()) put_option(out, kIfName, interface.name);
  put_option(out, kIfTsresol, std::string_view(reinterpret_cast<const char*>(&kNanoseconds), 1));
  put_end_of_options(out);
  finish_block(out, start);
}

void append_enhanced_packet(std::string* out, const Packet& packet, uint32_t snap_len) {
  uint32_t captured = static_cast<uint32_t>(std::min<size_t>(packet.data.size(), snap_len));
  size_t start = begin_block(out, kEnhancedPacket);
  put32(out, packet.interface_id);
  put32(out, static_cast<uint32_t>(packet.ts_ns >> 32));  // timestamp, upper half
  put32(out, static_cast<uint32_t>(packet.ts_ns));        // lower half
  put32(out, captured);
  put32(out, std::max(packet.original_len, captured));
  out->append(packet.data, 0, captured);
  pad_to_32_bits(out);
  if (packet.owner) {
    put_option(out, kOptComment, owner_comment(*packet.owner));
    put_end_of_options(out);
  }
  finish_block(out, start);
}

void append_decryption_secrets(std::string* out, std::string_view key_log_text) {
  size_t start = begin_block(out, kDecryptionSecrets);
  put32(out, kSecretsTypeTlsKeyLog);
  put32(out, static_cast<uint32_t>(key_log_text.size()));
  out->append(key_log_text);
  pad_to_32_bits(out);
  finish_block(out, start);
}

std::string owner_comment(const PacketOwner& owner) {
  std::string comm = owner.comm;
  std::replace_if(
      comm.begin(), comm.end(), [](char c) { return c < 0x20 || c > 0x7e; }, '?');
  return "pid=" + std::to_string(owner.pid) + " comm=" + comm;
}

}  // namespace tlstap::pcapng
