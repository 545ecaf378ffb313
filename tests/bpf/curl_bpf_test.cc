// Debian's curl (libcurl on OpenSSL) fetching a file from `openssl s_server
// -WWW`, over IPv4 and IPv6, TLS 1.2 and 1.3: curl's request and the
// server's response appear once each, byte for byte, on both processes, with
// the connection's addresses.
#include <gtest/gtest.h>

#include "tests/bpf/proc_inspect.h"
#include "tests/bpf/subprocess.h"
#include "tests/bpf/test_env.h"
#include "tests/bpf/tlstap_session.h"

namespace tlstap::bpf_test {
namespace {

constexpr char kUserAgent[] = "tlstap-bpf-test";
// What s_server -WWW sends before the file.
constexpr char kResponseHead[] = "HTTP/1.0 200 ok\r\nContent-type: text/plain\r\n\r\n";

struct CurlCase {
  const char* name;
  std::vector<std::string> tls_flags;
  size_t size;
  const char* host;
};

class CurlTest : public BpfTest, public ::testing::WithParamInterface<CurlCase> {};

TEST_P(CurlTest, RequestAndResponseExactlyOnce) {
  const CurlCase& c = GetParam();
  TempDir dir;
  Certificate cert;
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
  const std::string file_name = "file" + SizeName(c.size);
  const std::string body = Payload("curl/" + file_name, c.size);
  ASSERT_NO_FATAL_FAILURE(WriteFile(dir / file_name, body));

  const int port = FreeTcpPort(c.host);
  ASSERT_GT(port, 0);
  const std::string server_addr = HostPort(c.host, port);
  SpawnOptions server_options =
      Command({kOpenssl, "s_server", "-accept", server_addr, "-cert", cert.cert, "-key", cert.key,
               "-naccept", "1", "-quiet", "-WWW"});
  server_options.cwd = dir.path();  // -WWW serves files relative to it
  server_options.stdin_pipe = false;
  Subprocess server(server_options);
  ASSERT_TRUE(server.ok()) << server.error();
  ASSERT_TRUE(WaitForListen(port, 10s)) << server.Stderr();

  // curl's pid is known before it runs: tlstap follows just these two
  // processes, whatever else on the host uses TLS meanwhile.
  std::vector<std::string> argv = {kCurl, "-sS",       "-k", "-A",           kUserAgent,
                                   "-o",  dir / "got", "-w", "%{local_port}"};
  argv.insert(argv.end(), c.tls_flags.begin(), c.tls_flags.end());
  argv.push_back("https://" + server_addr + "/" + file_name);
  Subprocess curl(HeldCommand(argv));
  ASSERT_TRUE(curl.ok()) << curl.error();
  TlstapSession tap;
  ASSERT_NO_FATAL_FAILURE(
      tap.Start({"--pid", std::to_string(server.pid()), "--pid", std::to_string(curl.pid())}));
  ASSERT_TRUE(curl.Write("go\n", 5s));
  curl.CloseStdin();
  ASSERT_EQ(curl.Wait(30s), 0) << curl.Stderr();
  EXPECT_EQ(server.Wait(10s), 0) << server.Stderr();
  ASSERT_TRUE(SameBytes(ReadFile(dir / "got"), body)) << "the file curl saved";
  const int local_port = std::stoi(curl.Stdout());

  Capture capture;
  ASSERT_NO_FATAL_FAILURE(tap.Stop(&capture));

  const std::string curl_addr = HostPort(c.host, local_port);
  const std::string request = "GET /" + file_name + " HTTP/1.1\r\nHost: " + server_addr +
                              "\r\nUser-Agent: " + kUserAgent + "\r\nAccept: */*\r\n\r\n";
  const std::string response = kResponseHead + body;
  // curl is gone before the test could look at its fds: fd -1 asks for one
  // fd, the same on every event.
  const Endpoint curl_end{curl.pid(), "curl", -1, curl_addr, server_addr};
  const Endpoint server_end{server.pid(), "openssl", -1, server_addr, curl_addr};
  ExpectStream(capture, curl_end, "tx", request);
  ExpectStream(capture, server_end, "rx", request);
  ExpectStream(capture, server_end, "tx", response);
  ExpectStream(capture, curl_end, "rx", response);
  // The body, as the file on disk, is the end of what curl received.
  std::string received = capture.Stream(curl.pid(), "rx");
  ASSERT_GE(received.size(), body.size());
  EXPECT_TRUE(SameBytes(std::string_view(received).substr(received.size() - body.size()), body));
  ExpectNoLoss(capture);
}

std::string CaseName(const ::testing::TestParamInfo<CurlCase>& info) {
  return std::string(info.param.name) + "_" + SizeName(info.param.size) + "_" +
         (std::string(info.param.host).find(':') == std::string::npos ? "ipv4" : "ipv6");
}

std::vector<CurlCase> Cases() {
  std::vector<CurlCase> cases;
  for (const char* host : {"127.0.0.1", "::1"}) {
    for (size_t size : {size_t{16} << 10, size_t{1} << 20}) {
      cases.push_back({"tls1_2", {"--tls-max", "1.2"}, size, host});
      cases.push_back({"tls1_3", {"--tlsv1.3"}, size, host});
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Files, CurlTest, ::testing::ValuesIn(Cases()), CaseName);

}  // namespace
}  // namespace tlstap::bpf_test
