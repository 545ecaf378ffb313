// Go's crypto/tls: tests/progs/tls_go, built by golang-go as is, stripped
// (-ldflags='-s -w', found through .gopclntab), as a PIE, and stripped
// without .go.buildinfo (found through .gopclntab alone), as client and
// server of one connection. Each (*tls.Conn).Write is one event with every
// byte; the Reads add up to the same stream; lib "go", the peers' pids, fds
// and addresses, read from the net.Conn under each tls.Conn.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <vector>

#include "tests/bpf/python_peer.h"
#include "tests/bpf/test_env.h"
#include "tests/bpf/tlstap_session.h"

namespace tlstap::bpf_test {
namespace {

struct GoCase {
  const char* build;  // file in kGoPeerDir
  const char* tls;
};

class GoTlsTest : public BpfTest, public ::testing::WithParamInterface<GoCase> {};

TEST_P(GoTlsTest, ExchangeExactlyOnce) {
  const GoCase& c = GetParam();
  const std::string program = std::string(kGoPeerDir) + "/" + c.build;
  ASSERT_TRUE(std::filesystem::exists(program))
      << program << " was not built: golang-go is missing (scripts/install-deps.sh installs it)";
  TempDir dir;
  Certificate cert;
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
  TlstapSession tap;
  ASSERT_NO_FATAL_FAILURE(tap.Start({"--comm", c.build}));

  PeerOptions server_options = ServerOptions("exchange", cert);
  server_options.program = {program};
  server_options.tls = c.tls;
  server_options.sizes = {1, 100, 16 << 10, 1 << 20};
  server_options.tag = std::string(c.build) + c.tls;
  PeerPair peers;
  ASSERT_NO_FATAL_FAILURE(
      StartPair(server_options, ClientOptions("exchange", server_options), &peers));
  ASSERT_EQ(peers.client_info.version, std::string("TLSv") + c.tls);
  ASSERT_EQ(peers.client->Wait(60s), 0) << peers.client->Stderr();
  ASSERT_EQ(peers.server->Wait(10s), 0) << peers.server->Stderr();

  Capture capture;
  ASSERT_NO_FATAL_FAILURE(tap.Stop(&capture));
  ASSERT_TRUE(tap.Stderr().find("pid " + std::to_string(peers.server_info.pid)) !=
              std::string::npos)
      << "tlstap did not report attaching to the server that started after it:\n"
      << tap.Stderr();

  const std::string upstream = PeerStream(server_options, "c2s");
  const std::string downstream = PeerStream(server_options, "s2c");
  const PeerInfo& client = peers.client_info;
  const PeerInfo& server = peers.server_info;
  const Endpoint client_end{client.pid, c.build, client.fd, client.laddr, client.raddr, "go"};
  const Endpoint server_end{server.pid, c.build, server.fd, server.laddr, server.raddr, "go"};
  ExpectStream(capture, client_end, "tx", upstream);
  ExpectStream(capture, server_end, "rx", upstream);
  ExpectStream(capture, server_end, "tx", downstream);
  ExpectStream(capture, client_end, "rx", downstream);

  // One Write per payload: one event each, whole, its socket read from the
  // connection itself.
  for (const PeerInfo* peer : {&client, &server}) {
    std::vector<const DataEvent*> tx = capture.Of(peer->pid, "tx");
    std::vector<uint64_t> lens;
    for (const DataEvent* e : tx) lens.push_back(e->len);
    EXPECT_EQ(lens, (std::vector<uint64_t>{1, 100, 16 << 10, 1 << 20}))
        << "pid " << peer->pid << ": " << Describe(tx);
    for (const DataEvent* e : capture.OfPid(peer->pid)) {
      EXPECT_EQ(e->attribution, "conn") << Describe(*e);
    }
  }
  ExpectNoLoss(capture);
}

std::string CaseName(const ::testing::TestParamInfo<GoCase>& info) {
  return std::string(info.param.build) + "_tls" + (info.param.tls[2] == '2' ? "1_2" : "1_3");
}

INSTANTIATE_TEST_SUITE_P(Builds, GoTlsTest,
                         ::testing::Values(GoCase{"tls_go", "1.3"}, GoCase{"tls_go", "1.2"},
                                           GoCase{"tls_go_stripped", "1.3"},
                                           GoCase{"tls_go_pie", "1.2"},
                                           GoCase{"tls_go_nobinfo", "1.3"}),
                         CaseName);

// Eight connections at once, one goroutine each on both sides, in two
// threads' worth of Go scheduler (GOMAXPROCS=2): goroutines park inside Read
// and Write and resume on other threads, and a thread runs other
// goroutines' calls meanwhile. Each connection's streams must still come out
// whole and exact, on its own addresses: calls are paired per goroutine.
class GoConcurrencyTest : public BpfTest {};

// All "connected" lines of a peer.
std::vector<PeerInfo> AllConnected(Subprocess& peer) {
  std::vector<PeerInfo> out;
  std::istringstream lines(peer.Stdout());
  for (std::string line; std::getline(lines, line);) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object() || j.value("event", "") != "connected") continue;
    PeerInfo info;
    info.pid = j.at("pid").get<pid_t>();
    info.fd = j.at("fd").get<int>();
    info.laddr = HostPort(j.at("laddr")[0].get<std::string>(), j.at("laddr")[1].get<int>());
    info.raddr = HostPort(j.at("raddr")[0].get<std::string>(), j.at("raddr")[1].get<int>());
    out.push_back(info);
  }
  return out;
}

// The events on one connection, by the addresses its process sees.
Capture OfConnection(const Capture& all, const PeerInfo& peer) {
  Capture one;
  one.stats = all.stats;
  for (const DataEvent& e : all.events) {
    if (e.pid == peer.pid && e.laddr == peer.laddr && e.raddr == peer.raddr) {
      one.events.push_back(e);
    }
  }
  return one;
}

TEST_F(GoConcurrencyTest, EightConnectionsAtOncePairedPerGoroutine) {
  constexpr int kConns = 8;
  const std::string program = std::string(kGoPeerDir) + "/tls_go";
  ASSERT_TRUE(std::filesystem::exists(program)) << program << " was not built: golang-go missing";
  TempDir dir;
  Certificate cert;
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
  TlstapSession tap;
  ASSERT_NO_FATAL_FAILURE(tap.Start({"--comm", "tls_go"}));

  PeerOptions server_options = ServerOptions("exchange", cert);
  server_options.program = {program};
  server_options.env = {"GOMAXPROCS=2"};
  server_options.sizes = {100, 16 << 10, 1 << 20};
  server_options.tag = "goroutines";
  server_options.extra = {"--conns", std::to_string(kConns)};
  std::unique_ptr<Subprocess> server = StartPeer(server_options);
  ASSERT_TRUE(server->ok()) << server->error();
  PeerOptions client_options = ClientOptions("exchange", server_options);
  client_options.env = {"GOMAXPROCS=2"};
  ASSERT_NO_FATAL_FAILURE(WaitForListening(*server, &client_options.port));
  std::unique_ptr<Subprocess> client = StartPeer(client_options);
  ASSERT_TRUE(client->ok()) << client->error();
  ASSERT_EQ(client->Wait(60s), 0) << client->Stderr();
  ASSERT_EQ(server->Wait(10s), 0) << server->Stderr();

  Capture capture;
  ASSERT_NO_FATAL_FAILURE(tap.Stop(&capture));
  std::vector<PeerInfo> clients = AllConnected(*client), servers = AllConnected(*server);
  ASSERT_EQ(clients.size(), size_t{kConns}) << client->Stdout();
  ASSERT_EQ(servers.size(), size_t{kConns}) << server->Stdout();
  for (const PeerInfo& c : clients) {
    auto s = std::find_if(servers.begin(), servers.end(),
                          [&](const PeerInfo& p) { return p.raddr == c.laddr; });
    ASSERT_NE(s, servers.end()) << "no server side for " << c.laddr;
    PeerOptions conn = server_options;  // the connection's seeds: "<tag>/<client port>"
    conn.tag += "/" + c.laddr.substr(c.laddr.rfind(':') + 1);
    const std::string upstream = PeerStream(conn, "c2s");
    const std::string downstream = PeerStream(conn, "s2c");
    SCOPED_TRACE("connection " + c.laddr + " -> " + c.raddr);
    const Endpoint client_end{c.pid, "tls_go", c.fd, c.laddr, c.raddr, "go"};
    const Endpoint server_end{s->pid, "tls_go", s->fd, s->laddr, s->raddr, "go"};
    ExpectStream(OfConnection(capture, c), client_end, "tx", upstream);
    ExpectStream(OfConnection(capture, c), client_end, "rx", downstream);
    ExpectStream(OfConnection(capture, *s), server_end, "rx", upstream);
    ExpectStream(OfConnection(capture, *s), server_end, "tx", downstream);
  }
  ExpectNoLoss(capture);
}

// A program whose first run ends before tlstap reaches its file (a tool
// run for its usage line) must not leave that file unprobed for the rest of
// the session: the probes report a file once, so tlstap, which could not
// open it, has them report it again. The next runs, a server and a client
// of the same file, are attached and captured whole, and every late-attach
// line names its process.
class GoShortFirstRunTest : public BpfTest {};

TEST_F(GoShortFirstRunTest, FileWhoseFirstRunEndedAtOnceIsCapturedOnItsNextRuns) {
  const std::string built = std::string(kGoPeerDir) + "/tls_go_stripped";
  ASSERT_TRUE(std::filesystem::exists(built)) << built << " was not built: golang-go missing";
  TempDir dir;
  Certificate cert;
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
  const std::string program = dir / "tls_go_short";  // a file tlstap has never seen
  std::filesystem::copy_file(built, program);
  TlstapSession tap;
  ASSERT_NO_FATAL_FAILURE(tap.Start({"--comm", "tls_go_short"}));

  // Exits at once (usage), several times: each run is gone before it can be
  // opened through /proc/PID/exe, or nearly so.
  for (int i = 0; i < 5; ++i) {
    RunResult usage = RunToEnd(Command({program}), 10s);
    ASSERT_TRUE(usage.status.has_value());
  }
  std::this_thread::sleep_for(1500ms);  // past tlstap's rescan window

  PeerOptions server_options = ServerOptions("exchange", cert);
  server_options.program = {program};
  server_options.sizes = {100, 16 << 10};
  server_options.tag = "short-first-run";
  PeerPair peers;
  ASSERT_NO_FATAL_FAILURE(
      StartPair(server_options, ClientOptions("exchange", server_options), &peers));
  ASSERT_EQ(peers.client->Wait(60s), 0) << peers.client->Stderr();
  ASSERT_EQ(peers.server->Wait(10s), 0) << peers.server->Stderr();
  Capture capture;
  ASSERT_NO_FATAL_FAILURE(tap.Stop(&capture));

  const std::string upstream = PeerStream(server_options, "c2s");
  const PeerInfo& client = peers.client_info;
  const PeerInfo& server = peers.server_info;
  ExpectStream(capture,
               Endpoint{client.pid, "tls_go_short", client.fd, client.laddr, client.raddr, "go"},
               "tx", upstream);
  ExpectStream(capture,
               Endpoint{server.pid, "tls_go_short", server.fd, server.laddr, server.raddr, "go"},
               "rx", upstream);
  EXPECT_EQ(tap.Stderr().find(" () loaded "), std::string::npos)
      << "a late-attach line without the process's name:\n"
      << tap.Stderr();
}

// A container as runc makes one: the server runs in its own mount
// namespace whose root is a fresh tmpfs (pivot_root), holding the program
// with the libc and loader it needs, so its file exists nowhere tlstap can
// see by path. Started before tlstap, it is found by the start-up scan of
// /proc/PID/maps and reached through /proc/PID/root.
class GoContainerTest : public BpfTest {};

TEST_F(GoContainerTest, ServerInOwnMountNamespaceFoundThroughProcRoot) {
  const std::string program = std::string(kGoPeerDir) + "/tls_go";
  ASSERT_TRUE(std::filesystem::exists(program)) << program << " was not built: golang-go missing";
  TempDir dir;
  Certificate cert;
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
  const std::string root = dir / "root";
  std::filesystem::create_directory(root);

  PeerOptions server_options = ServerOptions("exchange", cert);
  server_options.prefix = {"/usr/bin/unshare",
                           "--mount",
                           "--propagation",
                           "private",
                           "/bin/sh",
                           "-c",
                           R"(set -e; root=$1 program=$2 certs=$3; shift 3
         mount -t tmpfs tlstap-container "$root"
         cp "$program" "$root/tls_go_in_ct"
         for lib in $(ldd "$program" | grep -o '/[^ ]*'); do
           mkdir -p "$root${lib%/*}" && cp "$lib" "$root$lib"
         done
         mkdir -p "$root$certs" && cp "$certs"/*.pem "$root$certs/"
         mkdir "$root/.old" && cd "$root" && pivot_root . .old
         exec "$@")",
                           "sh",
                           root,
                           program,
                           dir.path()};
  server_options.program = {"/tls_go_in_ct"};
  server_options.sizes = {100, 1 << 20};
  server_options.tag = "container";
  std::unique_ptr<Subprocess> server = StartPeer(server_options);
  ASSERT_TRUE(server->ok()) << server->error();
  PeerOptions client_options = ClientOptions("exchange", server_options);
  client_options.program = {program};
  ASSERT_NO_FATAL_FAILURE(WaitForListening(*server, &client_options.port));
  ASSERT_FALSE(std::filesystem::exists(root + "/tls_go_in_ct"))
      << "the container's tmpfs is visible outside its mount namespace";

  TlstapSession tap;
  ASSERT_NO_FATAL_FAILURE(tap.Start({"--lib", "go"}));
  std::unique_ptr<Subprocess> client = StartPeer(client_options);
  ASSERT_TRUE(client->ok()) << client->error();
  PeerInfo client_info, server_info;
  ASSERT_NO_FATAL_FAILURE(WaitForConnected(*client, &client_info));
  ASSERT_NO_FATAL_FAILURE(WaitForConnected(*server, &server_info));
  ASSERT_EQ(server_info.pid, server->pid()) << "unshare and sh exec the server in place";
  ASSERT_EQ(client->Wait(60s), 0) << client->Stderr();
  ASSERT_EQ(server->Wait(10s), 0) << server->Stderr();

  Capture capture;
  ASSERT_NO_FATAL_FAILURE(tap.Stop(&capture));
  const Endpoint server_end{server_info.pid,   "tls_go_in_ct",    server_info.fd,
                            server_info.laddr, server_info.raddr, "go"};
  ExpectStream(capture, server_end, "rx", PeerStream(server_options, "c2s"));
  ExpectStream(capture, server_end, "tx", PeerStream(server_options, "s2c"));
  ExpectNoLoss(capture);
}

}  // namespace
}  // namespace tlstap::bpf_test
