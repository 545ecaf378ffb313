// Exporters against golden output written to string streams.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sys/socket.h>

#include <numeric>
#include <random>
#include <sstream>
#include <vector>

#include "export/format.h"
#include "export/json/json_lines.h"
#include "export/json/json_read.h"
#include "export/text/table.h"

namespace tlstap::exporting {
namespace {

capture::DataEvent Event() {
  capture::DataEvent e;
  e.ts_ns = 1'795'300'000'123'456'789;  // 2026-11-21 22:26:40.123456789 UTC
  e.cgroup_id = 1;
  e.conn_id = 3;
  e.stream_pos = 78;
  e.pid = 4242;
  e.tid = 4243;
  e.uid = 1000;
  e.fd = 5;
  e.lib = capture::Lib::kOpenSsl;
  e.dir = capture::Dir::kRx;
  e.attribution = capture::Attribution::kCached;
  e.comm = "curl";
  e.local.family = e.remote.family = AF_INET6;
  inet_pton(AF_INET6, "::1", e.local.addr.data());
  inet_pton(AF_INET6, "::1", e.remote.addr.data());
  e.local.port = 51514;
  e.remote.port = 8443;
  e.data = std::string("HTTP/1.1 200 OK\r\n\r\nhi");
  e.len = e.data.size();
  return e;
}

TEST(JsonLines, DataEventGolden) {
  std::ostringstream out;
  JsonLinesExporter json(out);
  json.on_data(Event());
  EXPECT_EQ(out.str(),
            R"({"type":"data","ts_ns":1795300000123456789,"pid":4242,"tid":4243,"comm":"curl",)"
            R"("uid":1000,"cgroup_id":1,"lib":"openssl","dir":"rx","fd":5,)"
            R"("laddr":"[::1]:51514","raddr":"[::1]:8443","attribution":"cached","conn_id":3,)"
            R"("stream_pos":78,"len":21,"captured":21,)"
            R"("data":"SFRUUC8xLjEgMjAwIE9LDQoNCmhp"})"
            "\n");
}

// A thread named otherwise than its process: "thread" right after "comm"
// (absent when they are the same, as above).
TEST(JsonLines, ThreadNameFollowsCommWhenItDiffers) {
  std::ostringstream out;
  JsonLinesExporter json(out);
  capture::DataEvent e = Event();
  e.comm = "python3";
  e.thread = "tlsworker";
  json.on_data(e);
  EXPECT_NE(out.str().find(R"("tid":4243,"comm":"python3","thread":"tlsworker","uid":1000,)"),
            std::string::npos)
      << out.str();
}

void ExpectSameEvent(const capture::DataEvent& a, const capture::DataEvent& b) {
  EXPECT_EQ(a.ts_ns, b.ts_ns);
  EXPECT_EQ(a.cgroup_id, b.cgroup_id);
  EXPECT_EQ(a.conn_id, b.conn_id);
  EXPECT_EQ(a.stream_pos, b.stream_pos);
  EXPECT_EQ(a.pid, b.pid);
  EXPECT_EQ(a.tid, b.tid);
  EXPECT_EQ(a.uid, b.uid);
  EXPECT_EQ(a.fd, b.fd);
  EXPECT_EQ(a.lib, b.lib);
  EXPECT_EQ(a.dir, b.dir);
  EXPECT_EQ(a.attribution, b.attribution);
  EXPECT_EQ(a.ktls, b.ktls);
  EXPECT_EQ(a.comm, b.comm);
  EXPECT_EQ(a.thread, b.thread);
  EXPECT_EQ(capture::format_endpoint(a.local), capture::format_endpoint(b.local));
  EXPECT_EQ(capture::format_endpoint(a.remote), capture::format_endpoint(b.remote));
  EXPECT_EQ(a.local.family, b.local.family);
  EXPECT_EQ(a.len, b.len);
  EXPECT_EQ(a.data.view(), b.data.view());
  EXPECT_EQ(a.lost, b.lost);
}

TEST(JsonRead, DataLinesReadBackAsTheEventsWritten) {
  std::vector<capture::DataEvent> events(4, Event());
  events[1].dir = capture::Dir::kTx;  // IPv4, every byte value, kTLS-carried
  events[1].local.family = events[1].remote.family = AF_INET;
  inet_pton(AF_INET, "10.1.2.3", events[1].local.addr.data());
  inet_pton(AF_INET, "192.168.0.1", events[1].remote.addr.data());
  events[1].ktls = true;
  events[1].lib = capture::Lib::kKtls;
  events[1].attribution = capture::Attribution::kSocket;
  std::string all(256, '\0');
  std::iota(all.begin(), all.end(), 0);
  events[1].data = all + all.substr(0, 1);  // 257 bytes: base64 with padding
  events[1].len = 257;
  events[2].fd = -1;  // unattributed, lost bytes, a comm with odd bytes
  events[2].attribution = capture::Attribution::kNone;
  events[2].local = events[2].remote = {};
  events[2].comm = "we\"ird\x01\xff";
  events[2].thread = "worker";
  events[2].len = 40;
  events[2].lost = {{21, 19}};
  events[3].local.family = AF_UNIX;  // a unix socket, nothing captured
  events[3].remote = {};
  events[3].data = std::string();
  events[3].len = 0;
  std::ostringstream out;
  JsonLinesExporter json(out);
  for (const auto& e : events) json.on_data(e);
  capture::Stats stats;
  json.on_stats(stats, true);
  std::istringstream in(out.str());
  std::string line;
  size_t i = 0;
  while (std::getline(in, line)) {
    auto read = parse_data_line(line);
    ASSERT_TRUE(read.has_value()) << read.error().message << " in " << line;
    if (i == events.size()) {
      EXPECT_FALSE(read->has_value()) << "the stats line is not a data event";
      ++i;
      continue;
    }
    ASSERT_TRUE(read->has_value()) << line;
    SCOPED_TRACE(line);
    ExpectSameEvent(**read, events[i++]);
  }
  EXPECT_EQ(i, events.size() + 1);
}

TEST(JsonRead, WhatIsNotTlstapJsonIsAnError) {
  EXPECT_FALSE(parse_data_line("GET / HTTP/1.1").has_value());
  EXPECT_FALSE(parse_data_line(R"({"type":"data","ts_ns":1})").has_value()) << "fields missing";
  std::ostringstream out;
  JsonLinesExporter(out).on_data(Event());
  std::string line = out.str();
  std::string bad_data = line;
  bad_data.replace(bad_data.find("SFRU"), 4, "S!RU");
  EXPECT_FALSE(parse_data_line(bad_data).has_value());
  std::string bad_addr = line;
  bad_addr.replace(bad_addr.find("[::1]:51514"), 11, "[::1]:99999");
  EXPECT_FALSE(parse_data_line(bad_addr).has_value());
  std::string short_data = line;
  short_data.replace(short_data.find(R"("captured":21)"), 13, R"("captured":20)");
  EXPECT_FALSE(parse_data_line(short_data).has_value());
}

TEST(JsonLines, UnattributedIncompleteEventNamesWhatIsMissing) {
  capture::DataEvent e = Event();
  e.fd = -1;
  e.attribution = capture::Attribution::kNone;
  e.local = e.remote = {};
  e.comm = "we\"ird\x01\xff";
  e.len = 40;
  e.lost = {{21, 19}};
  std::ostringstream out;
  JsonLinesExporter(out).on_data(e);
  EXPECT_NE(out.str().find(R"("comm":"we\"ird\u0001\u00ff")"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find(R"("fd":-1,"laddr":null,"raddr":null,"attribution":"none")"),
            std::string::npos);
  EXPECT_NE(out.str().find(R"("len":40,"captured":21,"lost":[[21,19]],"data":)"),
            std::string::npos);
}

TEST(JsonLines, StatsNameEveryLossCause) {
  capture::Stats s;
  s.calls = 10;
  s.call_bytes = 1000;
  s.events = 10;
  s.captured_bytes = 900;
  s.attributed_bytes = 450;
  s.lost_ringbuf_bytes = 100;
  s.lost_ringbuf_calls = 1;
  s.targets_attached = 1;
  s.probes_attached = 9;
  std::ostringstream out;
  JsonLinesExporter(out).on_stats(s, true);
  std::string line = out.str();
  EXPECT_EQ(line.rfind(R"({"type":"stats","ts_ns":)", 0), 0u);
  EXPECT_NE(
      line.find(
          R"("final":true,"calls":10,"call_bytes":1000,"events":10,)"
          R"("captured_bytes":900,"attributed_bytes":450,"attributed_share":0.5,)"
          R"("targets":1,"probes":9,"late_attaches":0,"stale_entries":0,"nested_calls":0,)"
          R"("lost":{"ringbuf_bytes":100,"ringbuf_calls":1,"fault_bytes":0,)"
          R"("fault_records":0,"no_entry_calls":0,"too_deep_calls":0,"nss_unchecked_calls":0,)"
          R"("ktls_splice_bytes":0,"ktls_splice_calls":0,"ktls_unreadable_bytes":0,)"
          R"("ktls_unreadable_calls":0,)"
          R"("chunk_limit_bytes":0,"keys_ringbuf":0,"keys_fault":0,"keys_unusable":0,"notify":0,)"
          R"("conn_ends":0,)"
          R"("incomplete_calls":0,"malformed_records":0,"output_events":0,"output_bytes":0,)"
          R"("output_records":0}})"
          "\n"),
      std::string::npos)
      << line;
}

TEST(Table, RowGolden) {
  std::ostringstream out, status;
  TableExporter table(out, status, {.hex = false, .preview = 64, .utc = true});
  table.on_data(Event());
  EXPECT_EQ(out.str(),
            "TIME            COMM                PID DIR      LEN CONNECTION                     "
            "                 PLAINTEXT\n"
            "22:26:40.123456 curl               4242 rx        21 fd 5 [::1]:51514 < [::1]:8443 "
            "                  HTTP/1.1 200 OK....hi\n");
}

TEST(Table, HexDumpShowsEveryByte) {
  std::ostringstream out;
  write_hex_dump(out, std::string("GET / HTTP/1.1\r\n\x00\xff", 18));
  EXPECT_EQ(out.str(),
            "  00000000  47 45 54 20 2f 20 48 54  54 50 2f 31 2e 31 0d 0a  |GET / HTTP/1.1..|\n"
            "  00000010  00 ff                                             |..|\n");
}

TEST(Table, ConnectionColumn) {
  capture::DataEvent e = Event();
  e.dir = capture::Dir::kTx;
  EXPECT_EQ(format_connection(e), "fd 5 [::1]:51514 > [::1]:8443");
  e.attribution = capture::Attribution::kNone;
  EXPECT_EQ(format_connection(e), "unattributed");
  e.attribution = capture::Attribution::kSyscall;
  e.local.family = AF_UNIX;
  EXPECT_EQ(format_connection(e), "fd 5 unix");
}

TEST(Table, IncompleteCallSaysHowMuchWasLost) {
  capture::DataEvent e = Event();
  e.len = 2069;
  e.lost = {{21, 2048}};
  std::ostringstream out, status;
  TableExporter(out, status, {.utc = true}).on_data(e);
  EXPECT_NE(out.str().find("[lost 2.0 KiB] HTTP/1.1 200 OK"), std::string::npos) << out.str();
}

TEST(Table, StatsLinesGoToStatusStream) {
  capture::Stats s;
  s.calls = 3;
  s.call_bytes = 2048;
  s.captured_bytes = 1024;
  s.attributed_bytes = 1024;
  s.lost_ringbuf_calls = 1;
  s.lost_ringbuf_bytes = 1024;
  s.targets_attached = 2;
  s.probes_attached = 18;
  std::ostringstream out, status;
  TableExporter(out, status, {}).on_stats(s, true);
  EXPECT_EQ(status.str(),
            "tlstap: 3 calls, 2.0 KiB; captured 50.00% of bytes, 100.00% of them attributed to a "
            "socket; 2 libraries, 18 probes attached\n"
            "tlstap: lost: 1 calls cut, 1.0 KiB (ring buffer full: raise --ring-size)\n");
}

TEST(Format, Base64Rfc4648Vectors) {
  EXPECT_EQ(base64(""), "");
  EXPECT_EQ(base64("f"), "Zg==");
  EXPECT_EQ(base64("fo"), "Zm8=");
  EXPECT_EQ(base64("foo"), "Zm9v");
  EXPECT_EQ(base64("foob"), "Zm9vYg==");
  EXPECT_EQ(base64("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64(std::string("\x00\xff\x10", 3)), "AP8Q");
  EXPECT_EQ(base64("\xfb\xff\xbf"), "+/+/");  // the last two letters of the alphabet
}

// Both encoders (the AVX2 one where the CPU has it, and the portable one)
// against libcrypto's EVP_EncodeBlock, on every length up to 200 (each path of
// the loops and both tails) and on 1 MiB, with random bytes.
TEST(Format, Base64MatchesLibcrypto) {
  std::mt19937 rng(7);
  auto reference = [](const std::string& in) {
    std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(in.data()),
                            static_cast<int>(in.size()));
    out.resize(n);
    return out;
  };
  std::vector<size_t> sizes(201);
  std::iota(sizes.begin(), sizes.end(), 0);
  sizes.push_back(1 << 20);
  for (size_t size : sizes) {
    std::string in(size, '\0');
    for (char& c : in) c = static_cast<char>(rng());
    const std::string expected = reference(in);
    ASSERT_EQ(base64(in), expected) << "size " << size;
    std::string portable;
    append_base64_portable(&portable, in);
    ASSERT_EQ(portable, expected) << "size " << size;
  }
  std::string line = "prefix:";
  append_base64(&line, "foo");
  EXPECT_EQ(line, "prefix:Zm9v");
}

TEST(Format, HumanBytes) {
  EXPECT_EQ(human_bytes(1023), "1023 B");
  EXPECT_EQ(human_bytes(1536), "1.5 KiB");
  EXPECT_EQ(human_bytes(3u << 20), "3.0 MiB");
}

}  // namespace
}  // namespace tlstap::exporting
