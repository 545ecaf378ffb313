// tlstap --records on an HTTP/1.0 response delimited by the close (no
// Content-Length, no chunks: RFC 9112 6.3 says its body runs to the
// connection's end), as `openssl s_server -www` sends its status page, to
// curl, which sends one request and exits. The TLS session's end (SSL_free
// on both sides, the kernel's notice of it) finishes the body: each side's
// record appears while tlstap runs, within a couple of seconds, with the
// exact response size, not when the connection has been idle for 5 minutes
// or tlstap exits.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/bpf/nginx_server.h"
#include "tests/bpf/proc_inspect.h"
#include "tests/bpf/subprocess.h"
#include "tests/bpf/test_env.h"
#include "tests/bpf/tlstap_session.h"

namespace tlstap::bpf_test {
namespace {

// How long a record may take after the client exits: tlstap reads the ring
// every 100 ms and flushes its output at once.
constexpr auto kPrompt = 2s;

// The record lines tlstap has written so far (complete lines only).
std::vector<nlohmann::json> RecordsSoFar(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::istringstream lines(ReadFile(path));
  std::string line;
  while (std::getline(lines, line)) {
    if (lines.eof()) break;  // no newline yet: still being written
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.value("type", "") == "record") out.push_back(std::move(j));
  }
  return out;
}

class Http1CloseTest : public BpfTest {};

TEST_F(Http1CloseTest, CloseDelimitedResponseIsARecordWhenTheSessionEnds) {
  TempDir dir;
  Certificate cert;
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
  const int port = FreeTcpPort();
  ASSERT_GT(port, 0);
  const std::string server_addr = HostPort("127.0.0.1", port);
  // -www: "HTTP/1.0 200 ok", a text/html status page, then the close.
  Subprocess server(Command({kOpenssl, "s_server", "-accept", server_addr, "-cert", cert.cert,
                             "-key", cert.key, "-www"}));
  ASSERT_TRUE(server.ok()) << server.error();
  ASSERT_TRUE(WaitForListen(port, 10s)) << server.Stderr();
  const std::string body_path = dir / "body";
  Subprocess client(HeldCommand({kCurl, "-sS", "-k", "--http1.1", "-o", body_path, "-w",
                                 "%{size_header} %{size_download} %{local_port}",
                                 "https://" + server_addr + "/"}));
  ASSERT_TRUE(client.ok()) << client.error();

  TlstapSession tap;
  ASSERT_NO_FATAL_FAILURE(tap.Start({"--records", "--events", "--pid", std::to_string(client.pid()),
                                     "--pid", std::to_string(server.pid())}));
  ASSERT_TRUE(client.Write("go\n", 5s));
  client.CloseStdin();
  ASSERT_EQ(client.Wait(30s), 0) << client.Stderr();
  const auto exited = std::chrono::steady_clock::now();

  // Both sides' records, while tlstap still runs.
  std::vector<nlohmann::json> seen;
  auto both_seen = [&] {
    bool client_seen = false, server_seen = false;
    for (const nlohmann::json& r : seen) {
      client_seen |= r.value("pid", 0) == client.pid();
      server_seen |= r.value("pid", 0) == server.pid();
    }
    return client_seen && server_seen;
  };
  while (std::chrono::steady_clock::now() - exited < kPrompt) {
    seen = RecordsSoFar(tap.output_path());
    if (both_seen()) break;
    std::this_thread::sleep_for(50ms);
  }
  const auto waited = std::chrono::steady_clock::now() - exited;
  EXPECT_TRUE(both_seen()) << "no record on each side " << kPrompt.count()
                           << " s after curl exited; so far:\n"
                           << [&] {
                                std::string s;
                                for (const nlohmann::json& r : seen) s += r.dump() + "\n";
                                return s;
                              }();
  EXPECT_LT(waited, kPrompt);

  Capture capture;
  ASSERT_NO_FATAL_FAILURE(tap.Stop(&capture));
  uint64_t header_size = 0, body_size = 0;
  int local_port = 0;
  std::istringstream report(client.Stdout());
  ASSERT_TRUE(report >> header_size >> body_size >> local_port) << client.Stdout();
  ASSERT_GT(body_size, 0u);
  EXPECT_EQ(ReadFile(body_path).size(), body_size);
  const std::string client_addr = HostPort("127.0.0.1", local_port);

  struct Side {
    pid_t pid;
    std::string comm, side, laddr, raddr, request_dir, response_dir;
  };
  for (const Side& s :
       {Side{client.pid(), "curl", "client", client_addr, server_addr, "tx", "rx"},
        Side{server.pid(), "openssl", "server", server_addr, client_addr, "rx", "tx"}}) {
    SCOPED_TRACE(s.side);
    std::vector<nlohmann::json> records;
    for (const nlohmann::json& r : capture.records)
      if (r.value("pid", 0) == s.pid) records.push_back(r);
    ASSERT_EQ(records.size(), 1u) << capture.DescribeRecords();
    const nlohmann::json& r = records[0];
    SCOPED_TRACE(r.dump());
    EXPECT_EQ(r.value("proto", ""), "http1");
    EXPECT_EQ(r.value("comm", ""), s.comm);
    EXPECT_EQ(r.value("side", ""), s.side);
    EXPECT_EQ(r.value("laddr", ""), s.laddr);
    EXPECT_EQ(r.value("raddr", ""), s.raddr);
    EXPECT_EQ(r.value("method", ""), "GET");
    EXPECT_EQ(r.value("target", ""), "/");
    EXPECT_EQ(r.value("status", 0), 200);
    EXPECT_FALSE(r.contains("error"));
    // Every byte each way: the request, and the response to the close.
    const std::string request = capture.Stream(s.pid, s.request_dir);
    const std::string response = capture.Stream(s.pid, s.response_dir);
    ASSERT_TRUE(response.starts_with("HTTP/1.0 200 ok\r\n")) << response.substr(0, 100);
    EXPECT_EQ(r.value("request_bytes", uint64_t{0}), request.size());
    EXPECT_EQ(r.value("response_bytes", uint64_t{0}), response.size());
    EXPECT_EQ(r.value("response_bytes", uint64_t{0}), header_size + body_size) << "curl's count";
    EXPECT_EQ(r.value("response_body_bytes", uint64_t{0}), body_size);
    EXPECT_GT(r.value("latency_ns", uint64_t{0}), 0u);
  }
  ExpectNoLoss(capture);
  const nlohmann::json* stats = capture.final_stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->value("/records/http1"_json_pointer, uint64_t{0}), 2u) << stats->dump();
  EXPECT_EQ(stats->value("/records/errors"_json_pointer, uint64_t{1}), 0u) << stats->dump();
}

}  // namespace
}  // namespace tlstap::bpf_test
