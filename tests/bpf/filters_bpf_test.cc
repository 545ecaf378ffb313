// --pid, --comm and --uid: two clients talk at the same time, the filter
// selects one; every byte of that one is there, nothing of the other.
#include <gtest/gtest.h>

#include <functional>

#include "tests/bpf/python_peer.h"
#include "tests/bpf/test_env.h"
#include "tests/bpf/tlstap_session.h"

namespace tlstap::bpf_test {
namespace {

constexpr uint32_t kNobody = 65534;

class FilterTest : public BpfTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(BpfTest::SetUp());
    ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir_, &cert_));
  }

  // Pair "a" or "b": each pair its own payloads and command names; the
  // clients wait after their handshake for a line on stdin.
  PeerOptions Server(const std::string& name) {
    PeerOptions o = ServerOptions("exchange", cert_);
    o.sizes = {100, 16 << 10};
    o.tag = "filter-" + name;
    o.comm = "srv-" + name;
    return o;
  }
  PeerOptions Client(const PeerOptions& server, const std::string& name) {
    PeerOptions o = ClientOptions("exchange", server);
    o.comm = "peer-" + name;
    o.wait_go = true;
    return o;
  }

  // Both pairs connected (handshakes done) before tlstap starts: --pid needs
  // the pid. Then both exchange their payloads at the same time. b_prefix
  // runs client "b" through another program (setpriv); b_thread runs its
  // TLS session in a thread of that name.
  void RunBothPairs(const std::function<std::vector<std::string>()>& tap_args, Capture* capture,
                    const std::vector<std::string>& b_prefix = {},
                    const std::string& b_thread = "") {
    PeerOptions server_a = Server("a"), server_b = Server("b");
    PeerOptions client_b = Client(server_b, "b");
    client_b.prefix = b_prefix;
    client_b.thread = b_thread;
    ASSERT_NO_FATAL_FAILURE(StartPair(server_a, Client(server_a, "a"), &a_));
    ASSERT_NO_FATAL_FAILURE(StartPair(server_b, client_b, &b_));
    TlstapSession tap;
    ASSERT_NO_FATAL_FAILURE(tap.Start(tap_args()));
    for (PeerPair* p : {&a_, &b_}) ASSERT_TRUE(p->client->Write("go\n", 5s));
    for (PeerPair* p : {&a_, &b_}) {
      EXPECT_EQ(p->client->Wait(30s), 0) << p->client->Stderr();
      EXPECT_EQ(p->server->Wait(10s), 0) << p->server->Stderr();
    }
    ASSERT_NO_FATAL_FAILURE(tap.Stop(capture));
  }

  // selected's traffic, whole and exact; nothing of other; every event
  // satisfies the filter.
  void ExpectOnly(const Capture& capture, const PeerPair& selected, const PeerPair& other,
                  const std::function<bool(const DataEvent&)>& filter) {
    const PeerInfo& info = selected.client_info;
    const Endpoint end{info.pid, selected.client_options.comm, info.fd, info.laddr, info.raddr};
    ExpectStream(capture, end, "tx", PeerStream(selected.server_options, "c2s"));
    ExpectStream(capture, end, "rx", PeerStream(selected.server_options, "s2c"));
    for (pid_t pid : {other.client_info.pid, other.server_info.pid, selected.server_info.pid}) {
      EXPECT_TRUE(capture.OfPid(pid).empty())
          << "pid " << pid << " was filtered out, yet: " << Describe(capture.OfPid(pid));
    }
    for (const DataEvent& e : capture.events) {
      EXPECT_TRUE(filter(e)) << "an event the filter excludes: " << Describe(e);
      if (!filter(e)) break;
    }
    ExpectNoLoss(capture);
  }

  TempDir dir_;
  Certificate cert_;
  PeerPair a_, b_;
};

TEST_F(FilterTest, PidSelectsOneOfTwoConcurrentClients) {
  Capture capture;
  ASSERT_NO_FATAL_FAILURE(RunBothPairs(
      [this] {
        return std::vector<std::string>{"--pid", std::to_string(a_.client->pid())};
      },
      &capture));
  ExpectOnly(capture, a_, b_, [this](const DataEvent& e) { return e.pid == a_.client->pid(); });
}

TEST_F(FilterTest, CommSelectsOneOfTwoConcurrentClients) {
  Capture capture;
  ASSERT_NO_FATAL_FAILURE(RunBothPairs(
      [] {
        return std::vector<std::string>{"--comm", "peer-b"};
      },
      &capture));
  ExpectOnly(capture, b_, a_, [](const DataEvent& e) { return e.comm == "peer-b"; });
}

TEST_F(FilterTest, CommRepeatedSelectsEachNamedProcess) {
  Capture capture;
  ASSERT_NO_FATAL_FAILURE(RunBothPairs(
      [] {
        return std::vector<std::string>{"--comm", "peer-b", "--comm", "srv-a"};
      },
      &capture));
  const PeerInfo& client_b = b_.client_info;
  const PeerInfo& server_a = a_.server_info;
  ExpectStream(capture, {client_b.pid, "peer-b", client_b.fd, client_b.laddr, client_b.raddr}, "tx",
               PeerStream(b_.server_options, "c2s"));
  // The server's tx only: its first SSL_read was already waiting when
  // tlstap attached, and a call entered before the uprobes is not seen.
  ExpectStream(capture, {server_a.pid, "srv-a", server_a.fd, server_a.laddr, server_a.raddr}, "tx",
               PeerStream(a_.server_options, "s2c"));
  for (pid_t pid : {a_.client_info.pid, b_.server_info.pid}) {
    EXPECT_TRUE(capture.OfPid(pid).empty())
        << "pid " << pid << " was filtered out, yet: " << Describe(capture.OfPid(pid));
  }
  ExpectNoLoss(capture);
}

// --comm is the process's name, as ps -o comm shows it, not the thread's:
// client "b" runs its TLS session in a thread it names "tlsworker"
// (prctl(PR_SET_NAME)); --comm peer-b takes all of it, each event saying
// comm "peer-b" and thread "tlsworker". --comm tlsworker takes nothing.
TEST_F(FilterTest, CommIsTheProcesssNameNotItsThreads) {
  Capture capture;
  ASSERT_NO_FATAL_FAILURE(RunBothPairs(
      [] {
        return std::vector<std::string>{"--comm", "peer-b"};
      },
      &capture, {}, "tlsworker"));
  ExpectOnly(capture, b_, a_, [](const DataEvent& e) { return e.comm == "peer-b"; });
  for (const DataEvent& e : capture.events) {
    EXPECT_EQ(e.thread, "tlsworker") << Describe(e);
    EXPECT_NE(e.tid, e.pid) << Describe(e);
  }
  a_ = {};
  b_ = {};

  Capture by_thread;
  ASSERT_NO_FATAL_FAILURE(RunBothPairs(
      [] {
        return std::vector<std::string>{"--comm", "tlsworker"};
      },
      &by_thread, {}, "tlsworker"));
  EXPECT_TRUE(by_thread.events.empty()) << Describe(by_thread.events.front());
}

TEST_F(FilterTest, UidSelectsTheClientRunningAsNobody) {
  Capture capture;
  ASSERT_NO_FATAL_FAILURE(RunBothPairs(
      [] {
        return std::vector<std::string>{"--uid", std::to_string(kNobody)};
      },
      &capture, {"/usr/bin/setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"}));
  ExpectOnly(capture, b_, a_, [](const DataEvent& e) { return e.uid == kNobody; });
}

}  // namespace
}  // namespace tlstap::bpf_test
