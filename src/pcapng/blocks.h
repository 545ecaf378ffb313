// pcapng blocks as bytes (the format of draft-ietf-opsawg-pcapng): the four
// tlstap writes. Hand-written because no pcapng library writes Decryption
// Secrets Blocks.
//
// This folder is src/pcapng/, beside src/keys/, as docs/design-rules.md
// lays out: it encodes packets and secrets into a file format and knows
// nothing of the event pipeline, so it is not a sink itself;
// packets::PacketSink (src/packets/) feeds it.
//
// Every block is written little-endian whatever the host, so the same input
// gives the same bytes everywhere; the Section Header's byte-order magic
// tells readers which order that is.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tlstap::pcapng {

enum BlockType : uint32_t {
  kInterfaceDescription = 0x00000001,
  kEnhancedPacket = 0x00000006,
  kDecryptionSecrets = 0x0000000a,
  kSectionHeader = 0x0a0d0d0a,
};

// LINKTYPE_* values of the tcpdump.org registry tlstap uses.
enum LinkType : uint16_t {
  kLinkTypeEthernet = 1,  // what TC sees on Ethernet and on loopback (zeroed MACs)
  kLinkTypeRaw = 101,     // an IPv4 or IPv6 packet with no link header (tun devices)
};

// "TLSK": the secrets are an NSS key log (SSLKEYLOGFILE text).
constexpr uint32_t kSecretsTypeTlsKeyLog = 0x544c534b;

struct Interface {
  uint16_t link_type = kLinkTypeEthernet;
  uint32_t snap_len = 262144;  // tcpdump's default: whole packets, even with GSO
  std::string name;            // if_name, e.g. "eth0"
};

// Who sent or received a packet, when its socket is known.
struct PacketOwner {
  uint32_t pid = 0;
  std::string comm;
};

struct Packet {
  uint32_t interface_id = 0;  // index of its interface, in the order they were described
  uint64_t ts_ns = 0;         // Unix time, nanoseconds (if_tsresol 9)
  uint32_t original_len = 0;  // on the wire; data may hold fewer bytes (snap length)
  std::string data;
  std::optional<PacketOwner> owner;
};

// The Section Header Block: byte order, version 1.0, section length unknown
// (-1: the file is written as a stream), shb_userappl naming tlstap.
void append_section_header(std::string* out, std::string_view application);

// An Interface Description Block with if_name and if_tsresol = 9 (timestamps
// in nanoseconds; the default would be microseconds).
void append_interface_description(std::string* out, const Interface& interface);

// An Enhanced Packet Block; with an owner, an opt_comment "pid=N comm=X".
// data longer than snap_len is cut to it (the original length stays).
void append_enhanced_packet(std::string* out, const Packet& packet, uint32_t snap_len);

// A Decryption Secrets Block of type TLS key log holding key_log_text (whole
// lines, newline-terminated).
void append_decryption_secrets(std::string* out, std::string_view key_log_text);

// The opt_comment text for an owner: "pid=4242 comm=curl". A comm is what
// the process set with prctl and may hold any byte; the comment must be
// UTF-8, so bytes outside printable ASCII become '?'.
std::string owner_comment(const PacketOwner& owner);

}  // namespace tlstap::pcapng
