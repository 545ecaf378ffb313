// tlstap --records against Debian's nginx and curl (both on OpenSSL) over
// TLS, HTTP/1.1: each request is one record on each side, curl's (client)
// and the nginx worker's (server), with the method, target, status, the
// sizes curl itself counted, and the connection's addresses.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <set>
#include <sstream>
#include <tuple>
#include <utility>

#include "tests/bpf/nginx_server.h"
#include "tests/bpf/subprocess.h"
#include "tests/bpf/test_env.h"
#include "tests/bpf/tlstap_session.h"

namespace tlstap::bpf_test {
namespace {

constexpr char kUserAgent[] = "tlstap-records-test";
constexpr char kHost[] = "127.0.0.1";
constexpr size_t kStaticSize = 5000;
constexpr size_t kUploadSize = 20000;
constexpr char kCreated[] = "created\n";  // what `return 201` sends
// What curl says about each transfer (-w), one line each.
constexpr char kCurlReport[] =
    "%{size_request} %{size_header} %{size_download} %{local_port} %{http_code}\n";

// curl's own account of one transfer: bytes of the request as sent
// (headers and body, chunk framing included), of the response's headers
// and of its body.
struct Transfer {
  uint64_t request = 0, header = 0, download = 0;
  int local_port = 0, status = 0;
};

class NginxRecordsTest : public BpfTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(BpfTest::SetUp());
    ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir_, &cert_));
    ASSERT_EQ(mkdir((dir_ / "www").c_str(), 0755), 0);
    static_body_ = Payload("nginx/static", kStaticSize);
    ASSERT_NO_FATAL_FAILURE(WriteFile(dir_ / "www/static.txt", static_body_));
    // HTTP/1.1 only (no http2 on the listen line).
    ASSERT_NO_FATAL_FAILURE(nginx_.Start(
        dir_, cert_,
        {.root = dir_ / "www",
         .lines = {"location = /upload { return 201 \"created\\n\"; }", "location / { }"},
         .http_lines = {}}));
    server_addr_ = nginx_.addr();
    worker_ = nginx_.worker();
  }

  std::string Url(const std::string& path) const { return "https://" + server_addr_ + path; }

  // Runs `curl --http1.1 -k curl_args...` (one -w line per transfer) while
  // `tlstap --json tlstap_args... --pid CURL --pid WORKER` runs.
  void RunCurl(const std::vector<std::string>& curl_args,
               const std::vector<std::string>& tlstap_args) {
    std::vector<std::string> argv = {kCurl, "-sS",      "--http1.1", "-k",
                                     "-A",  kUserAgent, "-w",        kCurlReport};
    argv.insert(argv.end(), curl_args.begin(), curl_args.end());
    Subprocess curl(HeldCommand(argv));
    ASSERT_TRUE(curl.ok()) << curl.error();
    curl_pid_ = curl.pid();
    std::vector<std::string> args = tlstap_args;
    for (pid_t pid : {curl.pid(), worker_}) {
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
      ASSERT_TRUE(fields >> t.request >> t.header >> t.download >> t.local_port >> t.status)
          << "curl -w line: " << line;
      transfers_.push_back(t);
    }
  }

  // The records of one process, in the order tlstap wrote them.
  std::vector<nlohmann::json> RecordsOf(pid_t pid) const {
    std::vector<nlohmann::json> out;
    for (const nlohmann::json& r : capture_.records) {
      if (r.value("pid", 0) == pid) out.push_back(r);
    }
    return out;
  }

  struct Expected {
    std::string method, target;
    int status = 0;
    uint64_t request_body = 0, response_body = 0;
  };

  // Both sides' records of transfer t: curl's (client) and the worker's
  // (server), field by field.
  void ExpectPair(const nlohmann::json& client, const nlohmann::json& server, const Transfer& t,
                  const Expected& e) {
    const std::string curl_addr = HostPort(kHost, t.local_port);
    struct Side {
      const nlohmann::json& r;
      pid_t pid;
      const char *comm, *side;
      std::string laddr, raddr;
    };
    for (const Side& s : {Side{client, curl_pid_, "curl", "client", curl_addr, server_addr_},
                          Side{server, worker_, "nginx", "server", server_addr_, curl_addr}}) {
      SCOPED_TRACE(std::string(s.side) + " record " + s.r.dump());
      const nlohmann::json& r = s.r;
      EXPECT_EQ(r.value("type", ""), "record");
      EXPECT_EQ(r.value("proto", ""), "http1");
      EXPECT_EQ(r.value("pid", 0), s.pid);
      EXPECT_EQ(r.value("comm", ""), s.comm);
      EXPECT_EQ(r.value("lib", ""), "openssl");
      EXPECT_EQ(r.value("side", ""), s.side);
      EXPECT_GE(r.value("fd", -1), 0);
      EXPECT_EQ(r.value("laddr", ""), s.laddr);
      EXPECT_EQ(r.value("raddr", ""), s.raddr);
      EXPECT_NE(r.value("conn_id", uint64_t{0}), 0u);
      EXPECT_EQ(r.value("method", ""), e.method);
      EXPECT_EQ(r.value("target", ""), e.target);
      EXPECT_EQ(r.value("host", ""), server_addr_);
      EXPECT_EQ(r.value("status", 0), e.status);
      EXPECT_EQ(r.value("request_bytes", uint64_t{0}), t.request);
      EXPECT_EQ(r.value("response_bytes", uint64_t{0}), t.header + t.download);
      EXPECT_EQ(r.value("request_body_bytes", uint64_t{1}), e.request_body);
      EXPECT_EQ(r.value("response_body_bytes", uint64_t{0}), e.response_body);
      const uint64_t ts = r.value("ts_ns", uint64_t{0});
      EXPECT_GE(ts, start_ns_);
      EXPECT_LE(ts, end_ns_);
      const uint64_t latency = r.value("latency_ns", uint64_t{0});
      EXPECT_GT(latency, 0u);
      EXPECT_LE(ts + latency, end_ns_) << "the response ended after curl did";
      EXPECT_FALSE(r.contains("error"));
    }
  }

  // The fd of pid's data events (all on one connection), for --events runs.
  int FdOfEvents(pid_t pid) const {
    std::set<int> fds;
    for (const DataEvent* e : capture_.OfPid(pid)) fds.insert(e->fd);
    EXPECT_EQ(fds.size(), 1u) << "pid " << pid << ": " << Describe(capture_.OfPid(pid));
    return fds.empty() ? -1 : *fds.begin();
  }

  void ExpectRecordStats(uint64_t records) const {
    const nlohmann::json* stats = capture_.final_stats();
    ASSERT_TRUE(stats) << "no final stats line";
    ASSERT_TRUE(stats->contains("records")) << stats->dump();
    const nlohmann::json& r = stats->at("records");
    EXPECT_EQ(r.value("http1", uint64_t{0}), records) << stats->dump();
    EXPECT_EQ(r.value("errors", uint64_t{1}), 0u) << stats->dump();
    EXPECT_EQ(r.value("parse_errors", uint64_t{1}), 0u) << stats->dump();
    EXPECT_EQ(r.value("gaps", uint64_t{1}), 0u) << stats->dump();
    ExpectNoLoss(capture_);
  }

  TempDir dir_;
  Certificate cert_;
  std::string static_body_;
  std::string server_addr_;
  NginxServer nginx_;
  pid_t worker_ = 0;
  pid_t curl_pid_ = 0;
  uint64_t start_ns_ = 0, end_ns_ = 0;
  Capture capture_;
  std::vector<Transfer> transfers_;
};

// One GET of a static file, with --events: the records' sizes are also
// those of the bytes each side's calls carried.
TEST_F(NginxRecordsTest, OneGetBothSides) {
  ASSERT_NO_FATAL_FAILURE(
      RunCurl({"-o", dir_ / "got", Url("/static.txt")}, {"--records", "--events"}));
  ASSERT_TRUE(SameBytes(ReadFile(dir_ / "got"), static_body_));
  ASSERT_EQ(transfers_.size(), 1u);
  const Transfer& t = transfers_[0];
  ASSERT_EQ(t.status, 200);
  ASSERT_EQ(t.download, kStaticSize);
  std::vector<nlohmann::json> client = RecordsOf(curl_pid_), server = RecordsOf(worker_);
  ASSERT_EQ(client.size(), 1u) << capture_.DescribeRecords();
  ASSERT_EQ(server.size(), 1u) << capture_.DescribeRecords();
  ASSERT_EQ(capture_.records.size(), 2u) << capture_.DescribeRecords();
  ExpectPair(client[0], server[0], t, {"GET", "/static.txt", 200, 0, kStaticSize});
  // The data events are there too, and agree.
  EXPECT_EQ(client[0].value("fd", -2), FdOfEvents(curl_pid_));
  EXPECT_EQ(server[0].value("fd", -2), FdOfEvents(worker_));
  const std::string request = "GET /static.txt HTTP/1.1\r\nHost: " + server_addr_ +
                              "\r\nUser-Agent: " + kUserAgent + "\r\nAccept: */*\r\n\r\n";
  EXPECT_EQ(capture_.Stream(curl_pid_, "tx"), request);
  EXPECT_EQ(capture_.Stream(worker_, "rx"), request);
  EXPECT_EQ(t.request, request.size());
  EXPECT_EQ(capture_.Stream(curl_pid_, "rx").size(), t.header + t.download);
  EXPECT_EQ(capture_.Stream(worker_, "tx").size(), t.header + t.download);
  ExpectRecordStats(2);
}

// Two GETs on one keep-alive connection, --records alone: two records per
// side, in order, on one connection, and no data events.
TEST_F(NginxRecordsTest, TwoGetsOnOneKeepAliveConnection) {
  ASSERT_NO_FATAL_FAILURE(RunCurl(
      {"-o", "/dev/null", "-o", "/dev/null", Url("/static.txt"), Url("/static.txt?second=1")},
      {"--records"}));
  ASSERT_EQ(transfers_.size(), 2u);
  EXPECT_EQ(transfers_[0].local_port, transfers_[1].local_port) << "curl reused the connection";
  std::vector<nlohmann::json> client = RecordsOf(curl_pid_), server = RecordsOf(worker_);
  ASSERT_EQ(client.size(), 2u) << capture_.DescribeRecords();
  ASSERT_EQ(server.size(), 2u) << capture_.DescribeRecords();
  ASSERT_EQ(capture_.records.size(), 4u) << capture_.DescribeRecords();
  ExpectPair(client[0], server[0], transfers_[0], {"GET", "/static.txt", 200, 0, kStaticSize});
  ExpectPair(client[1], server[1], transfers_[1],
             {"GET", "/static.txt?second=1", 200, 0, kStaticSize});
  for (const auto* side : {&client, &server}) {
    EXPECT_EQ((*side)[0].at("conn_id"), (*side)[1].at("conn_id"));
    EXPECT_EQ((*side)[0].at("fd"), (*side)[1].at("fd"));
    EXPECT_LE((*side)[0].value("ts_ns", uint64_t{0}), (*side)[1].value("ts_ns", uint64_t{0}));
  }
  EXPECT_TRUE(capture_.events.empty())
      << "--records without --events: " << Describe(capture_.OfPid(curl_pid_));
  ExpectRecordStats(4);
}

// Python's ssl module as the client: three requests pipelined in one
// SSL_write, the last asking to close; prints its local port and the bytes
// it received, then exits when nginx closes the connection.
constexpr char kPipelinedClient[] = R"py(
import socket, ssl, sys
host, port = sys.argv[1], int(sys.argv[2])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection((host, port)))
s.sendall(sys.argv[3].encode().replace(b"|", b"\r\n"))
got = 0
while True:
    b = s.recv(65536)
    if not b:
        break
    got += len(b)
print(s.getsockname()[1], got)
)py";

// Pipelining: nginx answers three requests that arrived in one TLS record,
// in order; each is its own record on both sides, paired in order, and
// the responses' sizes add up to what the client received.
TEST_F(NginxRecordsTest, ThreePipelinedRequestsInOneWrite) {
  const std::string requests[] = {
      "GET /static.txt HTTP/1.1|Host: " + server_addr_ + "||",
      "GET /missing HTTP/1.1|Host: " + server_addr_ + "||",
      "GET /static.txt?third HTTP/1.1|Host: " + server_addr_ + "|Connection: close||"};
  Subprocess client(HeldCommand({kPython, "-c", kPipelinedClient, kHost,
                                 server_addr_.substr(server_addr_.rfind(':') + 1),
                                 requests[0] + requests[1] + requests[2]}));
  ASSERT_TRUE(client.ok()) << client.error();
  TlstapSession tap;
  ASSERT_NO_FATAL_FAILURE(tap.Start(
      {"--records", "--pid", std::to_string(client.pid()), "--pid", std::to_string(worker_)}));
  start_ns_ = NowNs();
  ASSERT_TRUE(client.Write("go\n", 5s));
  client.CloseStdin();
  ASSERT_EQ(client.Wait(30s), 0) << client.Stderr();
  end_ns_ = NowNs();
  ASSERT_NO_FATAL_FAILURE(tap.Stop(&capture_));
  int local_port = 0;
  uint64_t received = 0;
  ASSERT_TRUE(std::istringstream(client.Stdout()) >> local_port >> received) << client.Stdout();

  std::vector<nlohmann::json> mine = RecordsOf(client.pid()), server = RecordsOf(worker_);
  ASSERT_EQ(mine.size(), 3u) << capture_.DescribeRecords();
  ASSERT_EQ(server.size(), 3u) << capture_.DescribeRecords();
  const std::string client_addr = HostPort(kHost, local_port);
  const std::pair<std::string, int> expected[] = {
      {"/static.txt", 200}, {"/missing", 404}, {"/static.txt?third", 200}};
  uint64_t response_bytes = 0;
  for (size_t i = 0; i < 3; ++i) {
    for (const auto& [r, side, laddr, raddr] :
         {std::tuple{mine[i], "client", client_addr, server_addr_},
          std::tuple{server[i], "server", server_addr_, client_addr}}) {
      SCOPED_TRACE(std::string(side) + " record " + r.dump());
      EXPECT_EQ(r.value("proto", ""), "http1");
      EXPECT_EQ(r.value("side", ""), side);
      EXPECT_EQ(r.value("laddr", ""), laddr);
      EXPECT_EQ(r.value("raddr", ""), raddr);
      EXPECT_EQ(r.value("method", ""), "GET");
      EXPECT_EQ(r.value("target", ""), expected[i].first);
      EXPECT_EQ(r.value("status", 0), expected[i].second);
      std::string request = requests[i];
      for (size_t at; (at = request.find('|')) != std::string::npos;)
        request.replace(at, 1, "\r\n");
      EXPECT_EQ(r.value("request_bytes", uint64_t{0}), request.size());
      if (expected[i].second == 200) {
        EXPECT_EQ(r.value("response_body_bytes", uint64_t{0}), kStaticSize);
      }
      const uint64_t ts = r.value("ts_ns", uint64_t{0});
      EXPECT_GE(ts, start_ns_);
      EXPECT_LE(ts + r.value("latency_ns", uint64_t{0}), end_ns_);
      EXPECT_GT(r.value("latency_ns", uint64_t{0}), 0u);
      EXPECT_FALSE(r.contains("error"));
    }
    EXPECT_EQ(mine[i].value("response_bytes", 0u), server[i].value("response_bytes", 1u));
    response_bytes += mine[i].value("response_bytes", uint64_t{0});
  }
  EXPECT_EQ(response_bytes, received) << "the three responses are all the client received";
  // The requests left in one call: the client's first record's request
  // began at the same time as the others'.
  EXPECT_EQ(mine[0].value("ts_ns", 0u), mine[2].value("ts_ns", 1u));
  ExpectRecordStats(6);
}

// A POST whose body curl sends chunked: the request's size on the wire
// counts the chunk framing, its body size does not.
TEST_F(NginxRecordsTest, ChunkedPost) {
  const std::string upload = Payload("nginx/upload", kUploadSize);
  ASSERT_NO_FATAL_FAILURE(WriteFile(dir_ / "upload.bin", upload));
  // "Expect:" off: no 100-continue round trip, one final response.
  ASSERT_NO_FATAL_FAILURE(
      RunCurl({"-o", dir_ / "got", "-H", "Transfer-Encoding: chunked", "-H",
               "Expect:", "--data-binary", "@" + (dir_ / "upload.bin"), Url("/upload")},
              {"--records", "--events"}));
  EXPECT_EQ(ReadFile(dir_ / "got"), kCreated);
  ASSERT_EQ(transfers_.size(), 1u);
  const Transfer& t = transfers_[0];
  ASSERT_EQ(t.status, 201);
  const std::string sent = capture_.Stream(curl_pid_, "tx");
  ASSERT_NE(sent.find("\r\nTransfer-Encoding: chunked\r\n"), std::string::npos)
      << sent.substr(0, 300);
  ASSERT_TRUE(sent.ends_with("\r\n0\r\n\r\n")) << "a chunked body ends with a last chunk";
  EXPECT_EQ(sent.size(), t.request);
  EXPECT_GT(t.request, kUploadSize + 13) << "the chunk framing is counted on the wire";
  std::vector<nlohmann::json> client = RecordsOf(curl_pid_), server = RecordsOf(worker_);
  ASSERT_EQ(client.size(), 1u) << capture_.DescribeRecords();
  ASSERT_EQ(server.size(), 1u) << capture_.DescribeRecords();
  ExpectPair(client[0], server[0], t, {"POST", "/upload", 201, kUploadSize, sizeof(kCreated) - 1});
  ExpectRecordStats(2);
}

// nginx's own 404 page: a status that is not 2xx is a record like any other.
TEST_F(NginxRecordsTest, NotFound) {
  ASSERT_NO_FATAL_FAILURE(RunCurl({"-o", "/dev/null", Url("/missing.txt")}, {"--records"}));
  ASSERT_EQ(transfers_.size(), 1u);
  const Transfer& t = transfers_[0];
  ASSERT_EQ(t.status, 404);
  ASSERT_GT(t.download, 0u);
  std::vector<nlohmann::json> client = RecordsOf(curl_pid_), server = RecordsOf(worker_);
  ASSERT_EQ(client.size(), 1u) << capture_.DescribeRecords();
  ASSERT_EQ(server.size(), 1u) << capture_.DescribeRecords();
  ExpectPair(client[0], server[0], t, {"GET", "/missing.txt", 404, 0, t.download});
  ExpectRecordStats(2);
}

// A method no registry has (RFC 9110: any token): nginx answers 405, and
// each side's record has the method as sent.
TEST_F(NginxRecordsTest, UnregisteredMethod) {
  ASSERT_NO_FATAL_FAILURE(
      RunCurl({"-X", "FOOBARBAZ", "-o", "/dev/null", Url("/static.txt")}, {"--records"}));
  ASSERT_EQ(transfers_.size(), 1u);
  const Transfer& t = transfers_[0];
  ASSERT_EQ(t.status, 405);
  std::vector<nlohmann::json> client = RecordsOf(curl_pid_), server = RecordsOf(worker_);
  ASSERT_EQ(client.size(), 1u) << capture_.DescribeRecords();
  ASSERT_EQ(server.size(), 1u) << capture_.DescribeRecords();
  ExpectPair(client[0], server[0], t, {"FOOBARBAZ", "/static.txt", 405, 0, t.download});
  ExpectRecordStats(2);
}

}  // namespace
}  // namespace tlstap::bpf_test
