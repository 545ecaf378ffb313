// -w FILE.pcapng's own logic: a frame's TCP tuple, which connections are
// traced processes', and the capture that admits packets by connection
// when they leave the reorder buffer (read back from memory outputs).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <string>
#include <vector>

#include "capture/decoder.h"
#include "packets/connections.h"
#include "packets/packet_capture.h"

namespace tlstap::packets {
namespace {

// 14 bytes of Ethernet (zeroed MACs, as on loopback), type IPv4.
std::string Ethernet(uint16_t type) {
  std::string e(12, '\0');
  e += static_cast<char>(type >> 8);
  e += static_cast<char>(type & 0xff);
  return e;
}

// An IPv4 TCP header pair: src:sport -> dst:dport, no payload.
std::string Ipv4Tcp(const char* src, uint16_t sport, const char* dst, uint16_t dport,
                    uint8_t proto = 6) {
  std::string ip(20, '\0');
  ip[0] = 0x45;  // version 4, IHL 5 (20 bytes)
  ip[3] = 40;    // total length
  ip[8] = 64;    // TTL
  ip[9] = static_cast<char>(proto);
  inet_pton(AF_INET, src, ip.data() + 12);
  inet_pton(AF_INET, dst, ip.data() + 16);
  std::string tcp(20, '\0');
  tcp[0] = static_cast<char>(sport >> 8);
  tcp[1] = static_cast<char>(sport & 0xff);
  tcp[2] = static_cast<char>(dport >> 8);
  tcp[3] = static_cast<char>(dport & 0xff);
  tcp[12] = 0x50;  // data offset 5
  return ip + tcp;
}

std::string Ipv6Tcp(const char* src, uint16_t sport, const char* dst, uint16_t dport) {
  std::string ip(40, '\0');
  ip[0] = 0x60;  // version 6
  ip[5] = 20;    // payload length
  ip[6] = 6;     // next header: TCP
  ip[7] = 64;    // hop limit
  inet_pton(AF_INET6, src, ip.data() + 8);
  inet_pton(AF_INET6, dst, ip.data() + 24);
  std::string tcp(20, '\0');
  tcp[0] = static_cast<char>(sport >> 8);
  tcp[1] = static_cast<char>(sport & 0xff);
  tcp[2] = static_cast<char>(dport >> 8);
  tcp[3] = static_cast<char>(dport & 0xff);
  return ip + tcp;
}

TcpEnd V4(const char* addr, uint16_t port) {
  TcpEnd e{.family = AF_INET, .addr = {}, .port = port};
  inet_pton(AF_INET, addr, e.addr.data());
  return e;
}

TcpEnd V6(const char* addr, uint16_t port) {
  TcpEnd e{.family = AF_INET6, .addr = {}, .port = port};
  inet_pton(AF_INET6, addr, e.addr.data());
  return e;
}

TEST(TcpTuple, Ipv4BehindEthernet) {
  auto t = parse_tcp_tuple(Ethernet(0x0800) + Ipv4Tcp("10.0.0.1", 51514, "10.0.0.2", 443), 14);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->src, V4("10.0.0.1", 51514));
  EXPECT_EQ(t->dst, V4("10.0.0.2", 443));
}

TEST(TcpTuple, Ipv6RawAndIpOptions) {
  auto t = parse_tcp_tuple(Ipv6Tcp("::1", 8443, "fe80::1", 40000), 0);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->src, V6("::1", 8443));
  EXPECT_EQ(t->dst, V6("fe80::1", 40000));
  // IHL 6: 4 bytes of options move the TCP header.
  std::string ip = Ipv4Tcp("1.2.3.4", 1, "5.6.7.8", 2);
  ip[0] = 0x46;
  ip.insert(20, std::string("\x01\x01\x01\x00", 4));
  t = parse_tcp_tuple(ip, 0);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->src.port, 1);
  EXPECT_EQ(t->dst.port, 2);
}

TEST(TcpTuple, NotTcpOrCutShort) {
  EXPECT_FALSE(parse_tcp_tuple(Ipv4Tcp("1.2.3.4", 1, "5.6.7.8", 2, /*proto=*/17), 0));
  std::string cut = Ipv4Tcp("1.2.3.4", 1, "5.6.7.8", 2).substr(0, 22);  // 2 bytes of TCP
  EXPECT_FALSE(parse_tcp_tuple(cut, 0));
  EXPECT_FALSE(parse_tcp_tuple(Ethernet(0x0806), 14));        // nothing after the link header
  EXPECT_FALSE(parse_tcp_tuple(std::string(40, '\x20'), 0));  // version 2
}

TEST(TcpEnd, MappedIpv4IsIpv4) {
  capture::Endpoint e;
  e.family = AF_INET6;
  inet_pton(AF_INET6, "::ffff:127.0.0.1", e.addr.data());
  e.port = 8443;
  auto end = tcp_end(e);
  ASSERT_TRUE(end);
  EXPECT_EQ(*end, V4("127.0.0.1", 8443));
  e.family = AF_UNIX;
  EXPECT_FALSE(tcp_end(e));
}

TEST(Connections, SenderFirstThenReceiver) {
  Connections c;
  // A traced client 127.0.0.1:40000 -> 127.0.0.1:443, and the traced server
  // end of the same connection.
  c.learn(V4("127.0.0.1", 40000), V4("127.0.0.1", 443), 100, "curl", 1);
  TcpTuple to_server{V4("127.0.0.1", 40000), V4("127.0.0.1", 443)};
  TcpTuple to_client{V4("127.0.0.1", 443), V4("127.0.0.1", 40000)};
  auto o = c.owner(to_client, 2);  // only the client traced: it received this one
  ASSERT_TRUE(o);
  EXPECT_EQ(o->pid, 100u);
  EXPECT_EQ(o->comm, "curl");
  c.learn(V4("127.0.0.1", 443), V4("127.0.0.1", 40000), 200, "nginx", 3);
  EXPECT_EQ(c.owner(to_client, 4)->comm, "nginx");  // now its sender is known
  EXPECT_EQ(c.owner(to_server, 4)->comm, "curl");
  // Another connection on the same ports of other addresses is not theirs.
  EXPECT_FALSE(c.owner({V4("10.0.0.1", 40000), V4("127.0.0.1", 443)}, 4));
  EXPECT_FALSE(c.owner({V4("127.0.0.1", 40001), V4("127.0.0.1", 443)}, 4));
}

TEST(Connections, IdleOnesAreForgotten) {
  Connections c;
  c.learn(V4("10.0.0.1", 1000), V4("10.0.0.2", 443), 1, "a", 100);
  c.learn(V4("10.0.0.1", 1001), V4("10.0.0.2", 443), 2, "b", 100);
  ASSERT_TRUE(c.owner({V4("10.0.0.2", 443), V4("10.0.0.1", 1001)}, 500));  // a packet keeps it
  c.expire(/*now_ns=*/700, /*idle_ns=*/300);
  EXPECT_EQ(c.size(), 1u);
  EXPECT_FALSE(c.owner({V4("10.0.0.1", 1000), V4("10.0.0.2", 443)}, 700));
  EXPECT_TRUE(c.owner({V4("10.0.0.1", 1001), V4("10.0.0.2", 443)}, 700));
}

TEST(Connections, LearnsFromTlsEvents) {
  Connections c;
  capture::DataEvent e;
  e.pid = 7;
  e.comm = "python3";
  e.ts_ns = 10;
  e.local = {.family = AF_INET, .addr = {127, 0, 0, 1}, .port = 5000};
  e.remote = {.family = AF_INET, .addr = {127, 0, 0, 1}, .port = 443};
  EXPECT_TRUE(c.learn(e));
  EXPECT_EQ(c.owner({V4("127.0.0.1", 443), V4("127.0.0.1", 5000)}, 11)->pid, 7u);
  e.remote = {};  // unattributed: nothing learned
  EXPECT_FALSE(c.learn(e));
}

// A packet record as the TC program lays it out: header, then the bytes.
std::string PacketRecord(uint32_t wire_len, uint32_t captured, uint8_t dir, std::string bytes) {
  tlstap_packet_event h{};
  h.type = TLSTAP_RECORD_PACKET;
  h.ifindex = 3;
  h.ts_ns = 123456789;
  h.sock_cookie = 77;
  h.wire_len = wire_len;
  h.captured = captured;
  h.dir = dir;
  return std::string(reinterpret_cast<const char*>(&h), sizeof(h)) + bytes;
}

capture::Record Decode(const std::string& record) {
  return capture::decode(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(record.data()), record.size()));
}

TEST(PacketRecord, DecodedOrRefused) {
  const std::string frame = Ethernet(0x0800) + Ipv4Tcp("127.0.0.1", 1, "127.0.0.1", 2);
  capture::Record r = Decode(PacketRecord(100, frame.size(), TLSTAP_DIR_RX, frame));
  auto* p = std::get_if<capture::PacketEvent>(&r);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->ts_ns, 123456789u);  // still CLOCK_MONOTONIC: the pipeline moves it
  EXPECT_EQ(p->ifindex, 3u);
  EXPECT_EQ(p->dir, capture::Dir::kRx);
  EXPECT_EQ(p->sock_cookie, 77u);
  EXPECT_EQ(p->wire_len, 100u);  // cut: more on the wire than captured
  EXPECT_EQ(p->data, frame);
  // More captured than the record holds, or than was on the wire; no direction.
  EXPECT_TRUE(std::holds_alternative<capture::Malformed>(
      Decode(PacketRecord(100, frame.size() + 1, TLSTAP_DIR_TX, frame))));
  EXPECT_TRUE(std::holds_alternative<capture::Malformed>(
      Decode(PacketRecord(10, frame.size(), TLSTAP_DIR_TX, frame))));
  EXPECT_TRUE(std::holds_alternative<capture::Malformed>(
      Decode(PacketRecord(100, frame.size(), 0, frame))));
}

// The capture end to end in memory: packets of a connection seen before
// its first TLS event are admitted once the event names it (they are
// still held), a secret goes ahead of them, and packets of other
// connections are left out and counted.
TEST(PacketCapture, AdmitsHeldPacketsOnceTheConnectionIsNamed) {
  std::vector<std::string> files;
  auto made = PacketCapture::make(pcapng::memory_outputs(&files), {.delay_ns = 1000});
  ASSERT_TRUE(made) << made.error().message;
  PacketCapture& c = **made;
  ASSERT_TRUE(c.add_interface({.ifindex = 1,
                               .name = "lo",
                               .arp_type = 772,
                               .loopback = true,
                               .link_type = pcapng::kLinkTypeEthernet,
                               .l3_offset = 14}));
  const std::string syn = Ethernet(0x0800) + Ipv4Tcp("127.0.0.1", 40000, "127.0.0.1", 443);
  const std::string other = Ethernet(0x0800) + Ipv4Tcp("127.0.0.1", 40001, "127.0.0.1", 443);
  ASSERT_TRUE(c.on_packet({.ts_ns = 100, .ifindex = 1, .wire_len = 54, .data = syn}));
  ASSERT_TRUE(c.on_packet({.ts_ns = 110, .ifindex = 1, .wire_len = 54, .data = other}));
  ASSERT_TRUE(c.on_packet({.ts_ns = 120, .ifindex = 9, .wire_len = 54, .data = syn}));
  capture::DataEvent e;
  e.pid = 4242;
  e.comm = "curl";
  e.ts_ns = 500;
  e.local = {.family = AF_INET, .addr = {127, 0, 0, 1}, .port = 40000};
  e.remote = {.family = AF_INET, .addr = {127, 0, 0, 1}, .port = 443};
  c.on_data(e);
  auto line = keys::parse_key_log_line("CLIENT_RANDOM " + std::string(64, 'a') + " " +
                                       std::string(96, 'b'));
  ASSERT_TRUE(line);
  ASSERT_TRUE(c.on_key_line(*line));
  ASSERT_TRUE(c.tick(1099));  // the delay has not passed for the first packet
  EXPECT_EQ(c.stats().written, 0u);
  ASSERT_TRUE(c.tick(1110));
  ASSERT_TRUE(c.finish());
  CaptureStats s = c.stats();
  EXPECT_EQ(s.received, 3u);
  EXPECT_EQ(s.written, 1u);
  EXPECT_EQ(s.unadmitted, 1u);
  EXPECT_EQ(s.unknown_interface, 1u);
  EXPECT_EQ(s.held, 0u);
  EXPECT_EQ(s.files, 1u);
  ASSERT_EQ(files.size(), 1u);
  const std::string& f = files[0];
  size_t dsb = f.find(std::string(64, 'a'));
  size_t comment = f.find("pid=4242 comm=curl");
  ASSERT_NE(dsb, std::string::npos);
  ASSERT_NE(comment, std::string::npos);
  EXPECT_LT(dsb, comment) << "the secret must precede the packet it decrypts";
  EXPECT_EQ(f.find(other), std::string::npos) << "a connection nobody traced was written";
}

}  // namespace
}  // namespace tlstap::packets
