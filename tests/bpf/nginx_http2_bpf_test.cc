// tlstap --records against Debian's nginx and curl (both on OpenSSL) over
// TLS with HTTP/2 (ALPN h2): each stream is one record on each side,
// curl's (client) and the nginx worker's (server), with :method, :path,
// :authority, status, body sizes as curl counted them, and the
// connection's addresses. gRPC is not tested here (no gRPC server in
// Debian 12's archive): grpc-status is covered by http2_test.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <map>
#include <set>
#include <sstream>

#include "tests/bpf/nginx_server.h"
#include "tests/bpf/subprocess.h"
#include "tests/bpf/test_env.h"
#include "tests/bpf/tlstap_session.h"

namespace tlstap::bpf_test {
namespace {

constexpr size_t kStaticSize = 5000;
constexpr size_t kUploadSize = 20000;
constexpr char kCreated[] = "created\n";  // what `return 201` sends
// What curl says about each transfer (-w), one line each.
constexpr char kCurlReport[] =
    "%{local_port} %{http_code} %{size_download} %{size_upload} %{http_version} "
    "%{url_effective}\n";

struct Transfer {
  int local_port = 0, status = 0;
  uint64_t download = 0, upload = 0;
  std::string version, url;
};

class NginxHttp2Test : public BpfTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(BpfTest::SetUp());
    ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir_, &cert_));
    ASSERT_EQ(mkdir((dir_ / "www").c_str(), 0755), 0);
    static_body_ = Payload("nginx-h2/static", kStaticSize);
    ASSERT_NO_FATAL_FAILURE(WriteFile(dir_ / "www/static.txt", static_body_));
    ASSERT_NO_FATAL_FAILURE(WriteFile(dir_ / "www/other.txt", static_body_ + static_body_));
    ASSERT_NO_FATAL_FAILURE(nginx_.Start(
        dir_, cert_,
        {.root = dir_ / "www",
         .http2 = true,
         // nginx reads a proxied request's whole body before passing it
         // on; a bare `return 201` would answer at once and reset the
         // stream (NO_ERROR) with the body unread.
         .lines = {"location = /upload { proxy_pass http://unix:" + (dir_ / "backend.sock") +
                       ":/; }",
                   "location / { }"},
         .http_lines = {"server { listen unix:" + (dir_ / "backend.sock") +
                        "; location / { return 201 \"created\\n\"; } }"}}));
  }

  // Runs `curl --http2 -k curl_args...` (one -w line per transfer) while
  // `tlstap --json tlstap_args... --pid CURL --pid WORKER` runs.
  void RunCurl(const std::vector<std::string>& curl_args,
               const std::vector<std::string>& tlstap_args) {
    std::vector<std::string> argv = {kCurl, "-sS", "--http2", "-k", "-w", kCurlReport};
    argv.insert(argv.end(), curl_args.begin(), curl_args.end());
    Subprocess curl(HeldCommand(argv));
    ASSERT_TRUE(curl.ok()) << curl.error();
    curl_pid_ = curl.pid();
    std::vector<std::string> args = tlstap_args;
    for (pid_t pid : {curl.pid(), nginx_.worker()}) {
      args.push_back("--pid");
      args.push_back(std::to_string(pid));
    }
    TlstapSession tap;
    ASSERT_NO_FATAL_FAILURE(tap.Start(args));
    start_ns_ = NowNs();
    ASSERT_TRUE(curl.Write("go\n", 5s));
    curl.CloseStdin();
    ASSERT_EQ(curl.Wait(30s), 0) << curl.Stderr();
    end_ns_ = NowNs();
    ASSERT_NO_FATAL_FAILURE(tap.Stop(&capture_));
    std::istringstream lines(curl.Stdout());
    std::string line;
    while (std::getline(lines, line)) {
      Transfer t;
      std::istringstream fields(line);
      ASSERT_TRUE(fields >> t.local_port >> t.status >> t.download >> t.upload >> t.version >>
                  t.url)
          << "curl -w line: " << line;
      ASSERT_EQ(t.version, "2") << "curl did not speak HTTP/2: " << line;
      transfers_.push_back(t);
    }
  }

  // The records of one process by :path.
  std::map<std::string, nlohmann::json> RecordsOf(pid_t pid) const {
    std::map<std::string, nlohmann::json> out;
    for (const nlohmann::json& r : capture_.records) {
      if (r.value("pid", 0) == pid) {
        EXPECT_TRUE(out.emplace(r.value("target", ""), r).second) << "twice: " << r.dump();
      }
    }
    return out;
  }

  struct Expected {
    std::string method, path;
    int status = 0;
    uint64_t request_body = 0, response_body = 0;
  };

  // Both sides' records of transfer t, field by field; the frame bytes
  // each side counted are the same bytes.
  void ExpectPair(const nlohmann::json& client, const nlohmann::json& server, const Transfer& t,
                  const Expected& e) {
    const std::string curl_addr = HostPort("127.0.0.1", t.local_port);
    struct Side {
      const nlohmann::json& r;
      pid_t pid;
      const char *comm, *side;
      std::string laddr, raddr;
    };
    for (const Side& s :
         {Side{client, curl_pid_, "curl", "client", curl_addr, nginx_.addr()},
          Side{server, nginx_.worker(), "nginx", "server", nginx_.addr(), curl_addr}}) {
      SCOPED_TRACE(std::string(s.side) + " record " + s.r.dump());
      const nlohmann::json& r = s.r;
      EXPECT_EQ(r.value("type", ""), "record");
      EXPECT_EQ(r.value("proto", ""), "http2");
      EXPECT_EQ(r.value("pid", 0), s.pid);
      EXPECT_EQ(r.value("comm", ""), s.comm);
      EXPECT_EQ(r.value("lib", ""), "openssl");
      EXPECT_EQ(r.value("side", ""), s.side);
      EXPECT_GE(r.value("fd", -1), 0);
      EXPECT_EQ(r.value("laddr", ""), s.laddr);
      EXPECT_EQ(r.value("raddr", ""), s.raddr);
      EXPECT_NE(r.value("conn_id", uint64_t{0}), 0u);
      EXPECT_EQ(r.value("stream_id", 0) % 2, 1) << "client-initiated streams are odd";
      EXPECT_EQ(r.value("method", ""), e.method);
      EXPECT_EQ(r.value("target", ""), e.path);
      EXPECT_EQ(r.value("host", ""), nginx_.addr()) << ":authority";
      EXPECT_EQ(r.value("status", 0), e.status);
      EXPECT_EQ(r.value("request_body_bytes", uint64_t{1}), e.request_body);
      EXPECT_EQ(r.value("response_body_bytes", uint64_t{0}), e.response_body);
      // HEADERS (9-byte frame header and a block) plus DATA frames.
      EXPECT_GT(r.value("request_bytes", uint64_t{0}), 9 + e.request_body);
      EXPECT_GT(r.value("response_bytes", uint64_t{0}), 9 + e.response_body);
      EXPECT_FALSE(r.contains("grpc_status"));
      const uint64_t ts = r.value("ts_ns", uint64_t{0});
      EXPECT_GE(ts, start_ns_);
      EXPECT_LE(ts, end_ns_);
      const uint64_t latency = r.value("latency_ns", uint64_t{0});
      EXPECT_GT(latency, 0u);
      EXPECT_LE(ts + latency, end_ns_) << "the response ended after curl did";
      EXPECT_FALSE(r.contains("error"));
    }
    for (const char* field : {"stream_id", "request_bytes", "response_bytes"}) {
      EXPECT_EQ(client.at(field), server.at(field)) << field << ": the same frames on both sides";
    }
  }

  void ExpectRecordStats(uint64_t records) const {
    const nlohmann::json* stats = capture_.final_stats();
    ASSERT_TRUE(stats) << "no final stats line";
    ASSERT_TRUE(stats->contains("records")) << stats->dump();
    const nlohmann::json& r = stats->at("records");
    EXPECT_EQ(r.value("http2", uint64_t{0}), records) << stats->dump();
    EXPECT_EQ(r.value("http1", uint64_t{1}), 0u) << stats->dump();
    for (const char* zero : {"errors", "parse_errors", "gaps", "hpack_lost", "overflows"}) {
      EXPECT_EQ(r.value(zero, uint64_t{1}), 0u) << zero << ": " << stats->dump();
    }
    ExpectNoLoss(capture_);
  }

  TempDir dir_;
  Certificate cert_;
  std::string static_body_;
  NginxServer nginx_;
  pid_t curl_pid_ = 0;
  uint64_t start_ns_ = 0, end_ns_ = 0;
  Capture capture_;
  std::vector<Transfer> transfers_;
};

// Two GETs at once (-Z) on one connection: two streams, each one record
// per side, paired by stream id whatever order the frames came in.
TEST_F(NginxHttp2Test, TwoGetsMultiplexedOnOneConnection) {
  ASSERT_NO_FATAL_FAILURE(RunCurl({"-Z", "-o", "/dev/null", "-o", "/dev/null",
                                   nginx_.Url("/static.txt"), nginx_.Url("/other.txt")},
                                  {"--records"}));
  ASSERT_EQ(transfers_.size(), 2u);
  EXPECT_EQ(transfers_[0].local_port, transfers_[1].local_port) << "curl multiplexed";
  std::map<std::string, nlohmann::json> client = RecordsOf(curl_pid_),
                                        server = RecordsOf(nginx_.worker());
  ASSERT_EQ(client.size(), 2u) << capture_.DescribeRecords();
  ASSERT_EQ(server.size(), 2u) << capture_.DescribeRecords();
  ASSERT_EQ(capture_.records.size(), 4u) << capture_.DescribeRecords();
  for (const Transfer& t : transfers_) {
    std::string path = t.url.substr(t.url.rfind('/'));
    SCOPED_TRACE(path);
    ASSERT_TRUE(client.contains(path) && server.contains(path)) << capture_.DescribeRecords();
    ExpectPair(client[path], server[path], t, {"GET", path, 200, 0, t.download});
  }
  EXPECT_EQ(client["/static.txt"].value("response_body_bytes", 0), kStaticSize);
  EXPECT_EQ(client["/other.txt"].value("response_body_bytes", 0), 2 * kStaticSize);
  std::set<int> streams;
  for (auto& [path, r] : client) streams.insert(r.value("stream_id", 0));
  EXPECT_EQ(streams, (std::set<int>{1, 3}));
  EXPECT_EQ(client["/static.txt"].at("conn_id"), client["/other.txt"].at("conn_id"));
  EXPECT_TRUE(capture_.events.empty()) << "--records without --events";
  ExpectRecordStats(4);
}

// A POST with a 20 kB body (DATA frames), with --events: the frames each
// record counts are within what each side's calls carried.
TEST_F(NginxHttp2Test, PostWithBody) {
  const std::string upload = Payload("nginx-h2/upload", kUploadSize);
  ASSERT_NO_FATAL_FAILURE(WriteFile(dir_ / "upload.bin", upload));
  ASSERT_NO_FATAL_FAILURE(RunCurl(
      {"-o", dir_ / "got", "--data-binary", "@" + (dir_ / "upload.bin"), nginx_.Url("/upload")},
      {"--records", "--events"}));
  EXPECT_EQ(ReadFile(dir_ / "got"), kCreated);
  ASSERT_EQ(transfers_.size(), 1u);
  const Transfer& t = transfers_[0];
  ASSERT_EQ(t.status, 201);
  ASSERT_EQ(t.upload, kUploadSize);
  std::map<std::string, nlohmann::json> client = RecordsOf(curl_pid_),
                                        server = RecordsOf(nginx_.worker());
  ASSERT_EQ(client.size(), 1u) << capture_.DescribeRecords();
  ASSERT_EQ(server.size(), 1u) << capture_.DescribeRecords();
  ExpectPair(client["/upload"], server["/upload"], t,
             {"POST", "/upload", 201, kUploadSize, sizeof(kCreated) - 1});
  EXPECT_LE(client["/upload"].value("request_bytes", uint64_t{0}),
            capture_.Stream(curl_pid_, "tx").size());
  EXPECT_LE(server["/upload"].value("response_bytes", uint64_t{0}),
            capture_.Stream(nginx_.worker(), "tx").size());
  EXPECT_TRUE(capture_.Stream(curl_pid_, "tx").starts_with("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
  ExpectRecordStats(2);
}

// nginx's own 404 page over HTTP/2.
TEST_F(NginxHttp2Test, NotFound) {
  ASSERT_NO_FATAL_FAILURE(RunCurl({"-o", "/dev/null", nginx_.Url("/missing.txt")}, {"--records"}));
  ASSERT_EQ(transfers_.size(), 1u);
  const Transfer& t = transfers_[0];
  ASSERT_EQ(t.status, 404);
  ASSERT_GT(t.download, 0u);
  std::map<std::string, nlohmann::json> client = RecordsOf(curl_pid_),
                                        server = RecordsOf(nginx_.worker());
  ASSERT_EQ(client.size(), 1u) << capture_.DescribeRecords();
  ASSERT_EQ(server.size(), 1u) << capture_.DescribeRecords();
  ExpectPair(client["/missing.txt"], server["/missing.txt"], t,
             {"GET", "/missing.txt", 404, 0, t.download});
  ExpectRecordStats(2);
}

}  // namespace
}  // namespace tlstap::bpf_test
