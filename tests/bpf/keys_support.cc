// The key log helpers, taps and fixture keys_support.h declares.
#include "tests/bpf/keys_support.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <optional>
#include <sstream>
#include <thread>

#include "tests/bpf/proc_inspect.h"

namespace tlstap::bpf_test {
namespace {

constexpr std::string_view kKeysReady = "tlstap: writing the TLS keys";

}  // namespace

std::multiset<std::string> KeyLines(const std::string& path) {
  std::multiset<std::string> lines;
  std::istringstream in(ReadFile(path));
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line[0] != '#') lines.insert(line);
  }
  return lines;
}

std::string TlstapLines(const std::string& err) {
  std::string out;
  std::istringstream in(err);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("tlstap: ")) out += line + "\n";
  }
  return out;
}

std::string Show(const std::multiset<std::string>& lines) {
  std::string out;
  for (const std::string& l : lines) out += "  " + l + "\n";
  return out.empty() ? "  (none)\n" : out;
}

std::set<std::string> Labels(const std::multiset<std::string>& lines) {
  std::set<std::string> labels;
  for (const std::string& l : lines) labels.insert(l.substr(0, l.find(' ')));
  return labels;
}

std::set<std::string> LoggedLabels(bool tls13) {
  if (!tls13) return {"CLIENT_RANDOM"};
  return {"CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
          "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0", "EXPORTER_SECRET"};
}

void ExpectPrivate(const std::string& path) {
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0) << path;
  EXPECT_EQ(st.st_mode & 07777, 0600u) << path;
}

void ExpectSameKeys(const std::string& tap_path, const std::multiset<std::string>& oracle,
                    size_t lines_per_session, const std::string& tap_stderr) {
  ASSERT_NO_FATAL_FAILURE(ExpectPrivate(tap_path));
  std::multiset<std::string> tap = KeyLines(tap_path);
  ASSERT_EQ(oracle.size() % lines_per_session, 0u) << "oracle:\n" << Show(oracle);
  ASSERT_FALSE(oracle.empty()) << "the program logged no keys";
  EXPECT_EQ(tap, oracle) << "tlstap wrote:\n"
                         << Show(tap) << "the program's own key log:\n"
                         << Show(oracle) << "tlstap stderr:\n"
                         << tap_stderr;
}

std::string TlsFlag(std::string_view tls) { return tls == "1.3" ? "-tls1_3" : "-tls1_2"; }

SpawnOptions OpensslServer(int port, const Certificate& cert,
                           const std::vector<std::string>& args) {
  SpawnOptions o = Command({kOpenssl, "s_server", "-accept", HostPort("127.0.0.1", port), "-cert",
                            cert.cert, "-key", cert.key, "-naccept", "1", "-quiet"});
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  return o;
}

SpawnOptions OpensslClient(int port, const std::vector<std::string>& args) {
  SpawnOptions o = Command(
      {kOpenssl, "s_client", "-connect", HostPort("127.0.0.1", port), "-quiet", "-no_ign_eof"});
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  return o;
}

void StartListening(const SpawnOptions& server, int port, std::unique_ptr<Subprocess>* out) {
  *out = std::make_unique<Subprocess>(server);
  ASSERT_TRUE((*out)->ok()) << (*out)->error();
  ASSERT_TRUE(WaitForListen(port, 10s)) << (*out)->Stderr();
}

void Terminate(Subprocess& server) {
  server.Signal(SIGTERM);
  server.Wait(10s);
}

std::string VersionName(const ::testing::TestParamInfo<const char*>& info) {
  return std::string(info.param[2] == '2' ? "tls1_2" : "tls1_3");
}

void KeysTap::Start(const std::string& path, const std::vector<std::string>& args, KeysMode mode) {
  if (mode == KeysMode::kBesideCapture) {
    std::vector<std::string> all = {"--keylog", path};
    all.insert(all.end(), args.begin(), args.end());
    session_ = std::make_unique<TlstapSession>();
    ASSERT_NO_FATAL_FAILURE(session_->Start(all));
    return;
  }
  SpawnOptions options = Command({kTlstap, "keys", "-w", path});
  options.stdin_pipe = false;
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  process_ = std::make_unique<Subprocess>(options);
  ASSERT_TRUE(process_->ok()) << process_->error();
  ASSERT_TRUE(process_->WaitForStderr(
      [](std::string_view err) { return err.find(kKeysReady) != std::string_view::npos; }, 120s))
      << process_->command() << " did not start; stderr:\n"
      << process_->Stderr();
}

void KeysTap::Stop() {
  if (session_) {
    ASSERT_NO_FATAL_FAILURE(session_->Stop(&capture_));
    return;
  }
  process_->Signal(SIGINT);
  std::optional<int> status = process_->Wait(60s);
  ASSERT_TRUE(status.has_value()) << "tlstap keys did not stop";
  ASSERT_EQ(*status, 0) << process_->Stderr();
}

std::string KeysTap::Stderr() const {
  if (session_) return session_->Stderr();
  return process_ ? process_->Stderr() : "";
}

bool KeysTap::WaitForStderr(const std::function<bool(std::string_view)>& pred,
                            std::chrono::milliseconds timeout) {
  if (session_) return session_->WaitForStderr(pred, timeout);
  return process_ && process_->WaitForStderr(pred, timeout);
}

void LoopbackCapture::Start(const std::string& pcap, int tcp_port) {
  pcap_ = pcap;
  marker_ = socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(marker_, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(bind(marker_, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(getsockname(marker_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  marker_addr_ = addr;
  const std::string filter = "tcp port " + std::to_string(tcp_port) + " or udp port " +
                             std::to_string(ntohs(addr.sin_port));
  process_ = std::make_unique<Subprocess>(
      Command({"/usr/bin/dumpcap", "-q", "-i", "lo", "-f", filter, "-w", pcap}));
  ASSERT_TRUE(process_->ok()) << process_->error();
  ASSERT_NO_FATAL_FAILURE(Mark("start"));
}

void LoopbackCapture::Mark(const std::string& name) {
  const std::string payload = "tlstap-capture-mark-" + name;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    sendto(marker_, payload.data(), payload.size(), 0,
           reinterpret_cast<const sockaddr*>(&marker_addr_), sizeof(marker_addr_));
    std::this_thread::sleep_for(20ms);
    if (ReadFile(pcap_).find(payload) != std::string::npos) return;
  }
  FAIL() << "dumpcap did not record mark " << name << " within 30 s: " << process_->Stderr();
}

void LoopbackCapture::Stop() {
  ASSERT_NO_FATAL_FAILURE(Mark("end"));
  process_->Signal(SIGINT);
  ASSERT_EQ(process_->Wait(30s), 0) << process_->Stderr();
}

LoopbackCapture::~LoopbackCapture() {
  if (marker_ >= 0) close(marker_);
}

void KeysBpfTest::SetUp() {
  ASSERT_NO_FATAL_FAILURE(BpfTest::SetUp());
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir_, &cert_));
}

bool KeysBpfTest::KeysBeside(const KeysRun& run, const std::function<void()>& exchange) {
  std::vector<std::string> args = run.args;
  if (run.verbose) args.push_back("-v");
  [&] {
    ASSERT_NO_FATAL_FAILURE(tap_.Start(tap_log_, args, run.mode));
    ASSERT_NO_FATAL_FAILURE(exchange());
    ASSERT_NO_FATAL_FAILURE(tap_.Stop());
  }();
  if (HasFatalFailure()) return false;
  std::multiset<std::string> oracle = KeyLines(run.oracle);
  if (!run.other_end.empty()) {
    EXPECT_EQ(oracle, KeyLines(run.other_end)) << "the two ends logged different secrets";
  }
  ExpectSameKeys(tap_log_, oracle, run.lines_per_session,
                 run.verbose ? TlstapLines(tap_.Stderr()) : tap_.Stderr());
  return true;
}

void KeysBpfTest::DecryptWithKeyLog(int port, const std::function<void()>& exchange,
                                    std::string* follow) {
  const std::string pcap = dir_ / "lo.pcapng";
  LoopbackCapture wire;
  ASSERT_NO_FATAL_FAILURE(wire.Start(pcap, port));
  ASSERT_NO_FATAL_FAILURE(exchange());
  ASSERT_NO_FATAL_FAILURE(wire.Stop());
  ASSERT_NO_FATAL_FAILURE(tap_.Stop());
  Subprocess tshark(Command(TsharkTls(
      pcap, port, {"-o", "tls.keylog_file:" + tap_log_, "-q", "-z", "follow,tls,ascii,0"})));
  ASSERT_TRUE(tshark.ok()) << tshark.error();
  ASSERT_EQ(tshark.Wait(60s), 0) << tshark.Stderr();
  *follow = tshark.Stdout();
}

std::string KeysBpfTest::NotDecrypted(const std::string& follow) const {
  return "tshark did not decrypt the request with tlstap's key log:\n" + follow + "\nkey log:\n" +
         ReadFile(tap_log_);
}

void KeysBpfTest::ExpectBothEndsCaptured(const PeerPair& pair, const PeerOptions& server,
                                         const PeerOptions& client) const {
  EXPECT_EQ(tap_.capture().Stream(pair.client_info.pid, "tx"), PeerStream(client, "c2s"));
  EXPECT_EQ(tap_.capture().Stream(pair.server_info.pid, "tx"), PeerStream(server, "s2c"));
  ExpectNoLoss(tap_.capture());
}

}  // namespace tlstap::bpf_test
