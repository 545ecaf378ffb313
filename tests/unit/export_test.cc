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
          R"("incomplete_calls":0,"malformed_records":0}})"
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
