// pcapng blocks as byte literals (a comment per field), the writer's files
// and rotation, and the reorder buffer's order. tshark reads real sessions
// in pcapng_tshark_test.cc.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "pcapng/blocks.h"
#include "pcapng/reorder.h"
#include "pcapng/writer.h"

namespace tlstap::pcapng {
namespace {

std::string Bytes(std::initializer_list<uint8_t> bytes) {
  return std::string(bytes.begin(), bytes.end());
}

uint32_t Le32(std::string_view bytes, size_t at) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = v << 8 | static_cast<uint8_t>(bytes[at + i]);
  return v;
}

// A block as the tests look at it: its type and body (after type and length,
// before the trailing length).
struct Block {
  uint32_t type;
  std::string body;
};

// Walks a file block by block, checking each block's two length fields agree.
std::vector<Block> Blocks(std::string_view file) {
  std::vector<Block> out;
  size_t at = 0;
  while (at + 12 <= file.size()) {
    uint32_t length = Le32(file, at + 4);
    EXPECT_EQ(length % 4, 0u);
    EXPECT_LE(at + length, file.size());
    if (length < 12 || at + length > file.size()) break;
    EXPECT_EQ(Le32(file, at + length - 4), length) << "trailing length of block at " << at;
    out.push_back({Le32(file, at), std::string(file.substr(at + 8, length - 12))});
    at += length;
  }
  EXPECT_EQ(at, file.size()) << "bytes after the last whole block";
  return out;
}

// The blocks' types in order, as letters: S(HB), I(DB), E(PB), D(SB).
std::string Shape(std::string_view file) {
  std::string shape;
  for (const Block& b : Blocks(file)) {
    switch (b.type) {
      case kSectionHeader:
        shape += 'S';
        break;
      case kInterfaceDescription:
        shape += 'I';
        break;
      case kEnhancedPacket:
        shape += 'E';
        break;
      case kDecryptionSecrets:
        shape += 'D';
        break;
      default:
        shape += '?';
    }
  }
  return shape;
}

// The packet data of each EPB, and the secrets text of each DSB, in order.
std::vector<std::string> Payloads(std::string_view file) {
  std::vector<std::string> out;
  for (const Block& b : Blocks(file)) {
    if (b.type == kEnhancedPacket) out.push_back(b.body.substr(20, Le32(b.body, 12)));
    if (b.type == kDecryptionSecrets) out.push_back(b.body.substr(8, Le32(b.body, 4)));
  }
  return out;
}

keys::KeyLogLine Secret(uint8_t seed) {
  std::vector<uint8_t> random(32, seed), secret(32, static_cast<uint8_t>(seed + 1));
  return *keys::make_key_log_line(keys::SecretLabel::kClientTrafficSecret0, random, secret);
}

Packet PacketAt(uint64_t ts_ns, std::string data) {
  Packet p;
  p.ts_ns = ts_ns;
  p.original_len = static_cast<uint32_t>(data.size());
  p.data = std::move(data);
  return p;
}

class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "tlstap-pcapng-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(Blocks, SectionHeader) {
  std::string out;
  append_section_header(&out, "tlstap");
  EXPECT_EQ(out, Bytes({
                     0x0a, 0x0d, 0x0d, 0x0a,  // block type: Section Header
                     0x2c, 0x00, 0x00, 0x00,  // block total length: 44
                     0x4d, 0x3c, 0x2b, 0x1a,  // byte-order magic 0x1a2b3c4d, little-endian
                     0x01, 0x00,              // major version 1
                     0x00, 0x00,              // minor version 0
                     0xff, 0xff, 0xff, 0xff,  // section length: -1 (not known)
                     0xff, 0xff, 0xff, 0xff,  //
                     0x04, 0x00,              // option shb_userappl
                     0x06, 0x00,              // its length: 6
                     't',  'l',  's',  't',   // "tlstap"
                     'a',  'p',  0x00, 0x00,  // padded to 32 bits
                     0x00, 0x00, 0x00, 0x00,  // opt_endofopt
                     0x2c, 0x00, 0x00, 0x00,  // block total length again
                 }));
}

TEST(Blocks, InterfaceDescription) {
  std::string out;
  append_interface_description(&out,
                               {.link_type = kLinkTypeEthernet, .snap_len = 65535, .name = "lo"});
  EXPECT_EQ(out, Bytes({
                     0x01, 0x00, 0x00, 0x00,  // block type: Interface Description
                     0x28, 0x00, 0x00, 0x00,  // block total length: 40
                     0x01, 0x00,              // link type: LINKTYPE_ETHERNET
                     0x00, 0x00,              // reserved
                     0xff, 0xff, 0x00, 0x00,  // snap length: 65535
                     0x02, 0x00,              // option if_name
                     0x02, 0x00,              // its length: 2
                     'l',  'o',  0x00, 0x00,  // "lo", padded
                     0x09, 0x00,              // option if_tsresol
                     0x01, 0x00,              // its length: 1
                     0x09, 0x00, 0x00, 0x00,  // 9: 10^-9 s, nanoseconds; padded
                     0x00, 0x00, 0x00, 0x00,  // opt_endofopt
                     0x28, 0x00, 0x00, 0x00,  // block total length again
                 }));
}

TEST(Blocks, EnhancedPacketWithOwnerComment) {
  Packet packet = PacketAt(1'795'300'000'123'456'789, "abcde");  // 0x18ea2fd6'949e0d15
  packet.interface_id = 1;
  packet.original_len = 1500;
  packet.owner = PacketOwner{.pid = 42, .comm = "curl"};
  std::string out;
  append_enhanced_packet(&out, packet, 65535);
  EXPECT_EQ(out, Bytes({
                     0x06, 0x00, 0x00, 0x00,  // block type: Enhanced Packet
                     0x40, 0x00, 0x00, 0x00,  // block total length: 64
                     0x01, 0x00, 0x00, 0x00,  // interface id: 1
                     0xd6, 0x2f, 0xea, 0x18,  // timestamp, upper 32 bits
                     0x15, 0x0d, 0x9e, 0x94,  // timestamp, lower 32 bits (ns: if_tsresol 9)
                     0x05, 0x00, 0x00, 0x00,  // captured length: 5
                     0xdc, 0x05, 0x00, 0x00,  // original length: 1500
                     'a',  'b',  'c',  'd',   // packet data
                     'e',  0x00, 0x00, 0x00,  // padded to 32 bits
                     0x01, 0x00,              // option opt_comment
                     0x10, 0x00,              // its length: 16
                     'p',  'i',  'd',  '=',   // "pid=42 comm=curl"
                     '4',  '2',  ' ',  'c',   //
                     'o',  'm',  'm',  '=',   //
                     'c',  'u',  'r',  'l',   //
                     0x00, 0x00, 0x00, 0x00,  // opt_endofopt
                     0x40, 0x00, 0x00, 0x00,  // block total length again
                 }));
}

TEST(Blocks, EnhancedPacketCutToSnapLengthWithoutOwner) {
  std::string out;
  append_enhanced_packet(&out, PacketAt(0, "abcdefgh"), 4);
  EXPECT_EQ(out, Bytes({
                     0x06, 0x00, 0x00, 0x00,  // block type: Enhanced Packet
                     0x24, 0x00, 0x00, 0x00,  // block total length: 36, no options
                     0x00, 0x00, 0x00, 0x00,  // interface id: 0
                     0x00, 0x00, 0x00, 0x00,  // timestamp, upper
                     0x00, 0x00, 0x00, 0x00,  // timestamp, lower
                     0x04, 0x00, 0x00, 0x00,  // captured length: the snap length, 4
                     0x08, 0x00, 0x00, 0x00,  // original length: 8
                     'a',  'b',  'c',  'd',   // the first 4 bytes
                     0x24, 0x00, 0x00, 0x00,  // block total length again
                 }));
}

TEST(Blocks, DecryptionSecrets) {
  std::string out;
  append_decryption_secrets(&out, "X\n");
  EXPECT_EQ(out, Bytes({
                     0x0a, 0x00, 0x00, 0x00,  // block type: Decryption Secrets
                     0x18, 0x00, 0x00, 0x00,  // block total length: 24
                     0x4b, 0x53, 0x4c, 0x54,  // secrets type 0x544c534b "TLSK": a TLS key log
                     0x02, 0x00, 0x00, 0x00,  // secrets length: 2
                     'X',  '\n', 0x00, 0x00,  // the key log text, padded
                     0x18, 0x00, 0x00, 0x00,  // block total length again
                 }));
}

TEST(Blocks, OwnerCommentIsPrintableAscii) {
  EXPECT_EQ(owner_comment({.pid = 7, .comm = "a b\x01\xff"}), "pid=7 comm=a b??");
}

TEST(Writer, FileStartsWithHeaderAndInterfacesAndRefusesUnknownInterface) {
  std::vector<std::string> files;
  Result<std::unique_ptr<Writer>> writer = Writer::make(memory_outputs(&files));
  ASSERT_TRUE(writer) << writer.error().message;
  EXPECT_EQ((*writer)->add_interface({.name = "lo"}).value_or(99), 0u);
  EXPECT_EQ((*writer)->add_interface({.name = "eth0"}).value_or(99), 1u);
  ASSERT_TRUE((*writer)->write_packet(PacketAt(1, "one")));
  Packet stray = PacketAt(2, "two");
  stray.interface_id = 2;
  Result<void> refused = (*writer)->write_packet(stray);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message, "pcapng: packet on interface 2, but only 2 described");
  ASSERT_TRUE((*writer)->flush());
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(Shape(files[0]), "SIIE");
}

TEST(Writer, SecretsAreWrittenOnceEach) {
  std::vector<std::string> files;
  std::unique_ptr<Writer> writer = *Writer::make(memory_outputs(&files));
  ASSERT_TRUE(writer->add_interface({.name = "lo"}));
  std::vector<keys::KeyLogLine> first = {Secret(1), Secret(2)};
  std::vector<keys::KeyLogLine> again = {Secret(2), Secret(1)};
  std::vector<keys::KeyLogLine> more = {Secret(1), Secret(3)};
  ASSERT_TRUE(writer->write_secrets(first));
  ASSERT_TRUE(writer->write_secrets(again));  // nothing new: no block
  ASSERT_TRUE(writer->write_secrets(more));   // one block, with the new line only
  ASSERT_TRUE(writer->flush());
  EXPECT_EQ(Shape(files[0]), "SIDD");
  EXPECT_EQ(Payloads(files[0]), (std::vector<std::string>{keys::format_key_log_line(Secret(1)) +
                                                              keys::format_key_log_line(Secret(2)),
                                                          keys::format_key_log_line(Secret(3))}));
}

// Every file starts with SHB, every IDB and one DSB holding every secret so
// far, so each decrypts alone (tshark proves it in pcapng_tshark_test.cc).
TEST(Writer, RotatesBySizeAndEachFileStartsWhole) {
  // Sizes: SHB 44, IDB 40, a DSB of one line 176 (of two 328), an EPB of
  // 100 bytes 132. A file of 600 takes the preamble and two packets.
  std::vector<std::string> files;
  std::unique_ptr<Writer> writer = *Writer::make(memory_outputs(&files), {.rotate_bytes = 600});
  ASSERT_TRUE(writer->add_interface({.name = "lo"}));
  std::vector<keys::KeyLogLine> a = {Secret(1)}, b = {Secret(2)};
  auto packet = [](char c) { return PacketAt(c, std::string(100, c)); };
  ASSERT_TRUE(writer->write_secrets(a));
  for (char c : {'a', 'b', 'c'}) ASSERT_TRUE(writer->write_packet(packet(c)));
  ASSERT_TRUE(writer->write_secrets(b));
  for (char c : {'d', 'e', 'f'}) ASSERT_TRUE(writer->write_packet(packet(c)));
  // A packet bigger than a whole file still gets written, alone.
  ASSERT_TRUE(writer->write_packet(PacketAt(7, std::string(1000, 'g'))));
  ASSERT_TRUE(writer->flush());
  std::string line_a = keys::format_key_log_line(Secret(1));
  std::string line_b = keys::format_key_log_line(Secret(2));
  std::string a_b = line_a + line_b;
  auto data = [](char c) { return std::string(100, c); };
  ASSERT_EQ(files.size(), 6u);
  EXPECT_EQ(writer->files_started(), 6u);
  EXPECT_EQ(writer->packets_written(), 7u);
  EXPECT_EQ(Payloads(files[0]), (std::vector<std::string>{line_a, data('a'), data('b')}));
  EXPECT_EQ(Shape(files[1]), "SIDED");  // b's secret arrived while this file was open
  EXPECT_EQ(Payloads(files[1]), (std::vector<std::string>{line_a, data('c'), line_b}));
  EXPECT_EQ(Shape(files[2]), "SIDE");  // and every later file starts with it
  EXPECT_EQ(Payloads(files[2]), (std::vector<std::string>{a_b, data('d')}));
  EXPECT_EQ(Payloads(files[3]), (std::vector<std::string>{a_b, data('e')}));
  EXPECT_EQ(Payloads(files[4]), (std::vector<std::string>{a_b, data('f')}));
  EXPECT_EQ(Payloads(files[5]), (std::vector<std::string>{a_b, std::string(1000, 'g')}));
  for (size_t i = 0; i + 1 < files.size(); ++i) EXPECT_LE(files[i].size(), 600u) << i;
}

TEST(Writer, NumberedFilesAre0600) {
  TempDir dir;
  mode_t old_umask = umask(0);
  std::unique_ptr<Writer> writer =
      *Writer::make(numbered_files(dir / "out.pcapng"), {.rotate_bytes = 200});
  umask(old_umask);
  ASSERT_TRUE(writer->add_interface({.name = "lo"}));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(writer->write_packet(PacketAt(i, std::string(100, 'x'))));
  ASSERT_TRUE(writer->flush());
  for (std::string name : {"out.pcapng", "out.pcapng.1", "out.pcapng.2"}) {
    struct stat st {};
    ASSERT_EQ(stat((dir / name).c_str(), &st), 0) << name;
    EXPECT_EQ(st.st_mode & 07777, 0600u) << name;
    EXPECT_EQ(Shape(ReadFile(dir / name)), "SIE") << name;
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "out.pcapng.3"));
}

TEST(Writer, RefusesASymbolicLink) {
  TempDir dir;
  std::ofstream(dir / "target") << "precious\n";
  std::filesystem::create_symlink(dir / "target", dir / "out.pcapng");
  Result<std::unique_ptr<Writer>> writer = Writer::make(numbered_files(dir / "out.pcapng"));
  ASSERT_FALSE(writer);
  EXPECT_EQ(writer.error().message, "cannot write " + dir / "out.pcapng" +
                                        ": it is a symbolic link; refusing to follow it");
  EXPECT_EQ(ReadFile(dir / "target"), "precious\n");
}

TEST(Writer, RefusesASymbolicLinkWhereARotatedFileGoes) {
  TempDir dir;
  std::filesystem::create_symlink(dir / "target", dir / "out.pcapng.1");
  std::unique_ptr<Writer> writer =
      *Writer::make(numbered_files(dir / "out.pcapng"), {.rotate_bytes = 200});
  ASSERT_TRUE(writer->add_interface({.name = "lo"}));
  ASSERT_TRUE(writer->write_packet(PacketAt(0, std::string(100, 'x'))));
  Result<void> second = writer->write_packet(PacketAt(1, std::string(100, 'x')));
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().message, "cannot write " + dir / "out.pcapng.1" +
                                        ": it is a symbolic link; refusing to follow it");
  EXPECT_FALSE(std::filesystem::exists(dir / "target"));
}

// A sink that records what it is given, in order, as "D:<n lines>" and
// "E:<data>".
class RecordingSink : public PacketSink {
 public:
  Result<void> write_secrets(std::span<const keys::KeyLogLine> lines) override {
    log.push_back("D:" + std::to_string(lines.size()));
    return {};
  }
  Result<void> write_packet(const Packet& packet) override {
    log.push_back("E:" + packet.data);
    return {};
  }
  std::vector<std::string> log;
};

using Log = std::vector<std::string>;

TEST(Reorder, ReleasesByTimestampOnceTheDelayHasPassed) {
  RecordingSink sink;
  ReorderBuffer buffer(&sink, {.delay_ns = 100});
  ASSERT_TRUE(buffer.add_packet(PacketAt(1000, "b")));
  ASSERT_TRUE(buffer.add_packet(PacketAt(990, "a")));   // from another CPU's ring, later
  ASSERT_TRUE(buffer.add_packet(PacketAt(1000, "c")));  // same time as b: after b
  ASSERT_TRUE(buffer.add_packet(PacketAt(1050, "d")));
  ASSERT_TRUE(buffer.release(1089));  // nothing is 100 ns old yet
  EXPECT_EQ(sink.log, Log{});
  ASSERT_TRUE(buffer.release(1100));
  EXPECT_EQ(sink.log, (Log{"E:a", "E:b", "E:c"}));
  EXPECT_EQ(buffer.stats().held_packets, 1u);
  EXPECT_EQ(buffer.stats().held_bytes, 1u);
  ASSERT_TRUE(buffer.flush_all());
  EXPECT_EQ(sink.log, (Log{"E:a", "E:b", "E:c", "E:d"}));
  EXPECT_EQ(buffer.stats().released, 4u);
  EXPECT_EQ(buffer.stats().released_early, 0u);
  EXPECT_EQ(buffer.stats().late, 0u);
}

TEST(Reorder, SecretsGoAheadOfEveryPacketReleasedAfterThem) {
  RecordingSink sink;
  ReorderBuffer buffer(&sink, {.delay_ns = 100});
  std::vector<keys::KeyLogLine> handshake = {Secret(1), Secret(2)};
  ASSERT_TRUE(buffer.add_packet(PacketAt(1000, "server hello")));
  ASSERT_TRUE(buffer.add_packet(PacketAt(1001, "encrypted extensions")));
  ASSERT_TRUE(buffer.release(1050));
  ASSERT_TRUE(buffer.add_secrets(handshake));  // 60 ns after the packets it decrypts
  ASSERT_TRUE(buffer.release(1200));
  EXPECT_EQ(sink.log, (Log{"D:2", "E:server hello", "E:encrypted extensions"}));
}

// The same through the real writer: the DSB precedes the packets in the file.
TEST(Reorder, DecryptionSecretsBlockPrecedesThePacketsInTheFile) {
  std::vector<std::string> files;
  std::unique_ptr<Writer> writer = *Writer::make(memory_outputs(&files));
  ASSERT_TRUE(writer->add_interface({.name = "lo"}));
  ReorderBuffer buffer(writer.get());  // the default delay, 2 s
  std::vector<keys::KeyLogLine> handshake = {Secret(1)};
  ASSERT_TRUE(buffer.add_packet(PacketAt(5'000'000'000, "first")));
  ASSERT_TRUE(buffer.add_packet(PacketAt(5'000'000'500, "second")));
  ASSERT_TRUE(buffer.release(6'999'999'999));
  ASSERT_TRUE(buffer.add_secrets(handshake));  // 2 s minus a little after
  ASSERT_TRUE(buffer.release(7'000'000'000));
  ASSERT_TRUE(buffer.add_packet(PacketAt(6'000'000'000, "third")));
  ASSERT_TRUE(buffer.flush_all());
  ASSERT_TRUE(writer->flush());
  EXPECT_EQ(Shape(files[0]), "SIDEEE");
  EXPECT_EQ(Payloads(files[0]), (std::vector<std::string>{keys::format_key_log_line(Secret(1)),
                                                          "first", "second", "third"}));
}

TEST(Reorder, OverTheBoundTheOldestGoOutEarlyAndAreCounted) {
  RecordingSink sink;
  ReorderBuffer buffer(&sink, {.delay_ns = 1'000'000'000, .max_held_bytes = 10});
  ASSERT_TRUE(buffer.add_packet(PacketAt(3, "ccccc")));
  ASSERT_TRUE(buffer.add_packet(PacketAt(1, "aaaaa")));
  EXPECT_EQ(sink.log, Log{});  // 10 bytes: at the bound, not past it
  ASSERT_TRUE(buffer.add_packet(PacketAt(2, "b")));
  EXPECT_EQ(sink.log, Log{"E:aaaaa"});
  EXPECT_EQ(buffer.stats().released_early, 1u);
  EXPECT_EQ(buffer.stats().held_bytes, 6u);
  // Older than what already went out: written now, counted as late.
  ASSERT_TRUE(buffer.add_packet(PacketAt(0, "z")));
  ASSERT_TRUE(buffer.flush_all());
  EXPECT_EQ(sink.log, (Log{"E:aaaaa", "E:z", "E:b", "E:ccccc"}));
  EXPECT_EQ(buffer.stats().late, 1u);
  EXPECT_EQ(buffer.stats().released_early, 1u);
  EXPECT_EQ(buffer.stats().held_packets, 0u);
}

}  // namespace
}  // namespace tlstap::pcapng
