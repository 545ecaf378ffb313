// What tlstap leaves behind: nothing in the kernel once it exits, and
// nothing in its maps for a process that died inside a TLS call.
#include <gtest/gtest.h>
#include <sys/utsname.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "tests/bpf/bpftool.h"
#include "tests/bpf/proc_inspect.h"
#include "tests/bpf/python_peer.h"
#include "tests/bpf/test_env.h"
#include "tests/bpf/tlstap_session.h"

namespace tlstap::bpf_test {
namespace {

constexpr char kComm[] = "tlstap-peer";

// Polls check() until it holds or timeout passes; returns its last value.
bool Eventually(const std::function<bool()>& check, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (check()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(50ms);
  }
}

// Ids (of kind "prog", "link" or "map") that bpftool still lists among ids.
std::set<uint32_t> StillListed(const std::string& kind, const std::set<uint32_t>& ids,
                               std::map<uint32_t, std::string>* names = nullptr) {
  nlohmann::json all;
  Bpftool({kind, "show"}, &all);
  std::set<uint32_t> listed;
  for (const nlohmann::json& o : all) {
    uint32_t id = o.value("id", 0u);
    if (!ids.contains(id)) continue;
    listed.insert(id);
    if (names) (*names)[id] = o.value("name", "");
  }
  return listed;
}

class LifecycleTest : public BpfTest {};

// The socket I/O tracepoints (sock_send_length, sock_recv_length) came in
// Linux 6.3; before them tlstap loads sys_enter instead.
bool KernelHasSocketTracepoints() {
  utsname u{};
  int major = 0, minor = 0;
  if (uname(&u) != 0 || sscanf(u.release, "%d.%d", &major, &minor) != 2) return false;
  return major > 6 || (major == 6 && minor >= 3);
}

// Running: its programs (ssl_call_exit, sys_enter, ...), links and maps are
// in the kernel. After SIGTERM: exit 0, a final stats line, and none of them
// is left.
TEST_F(LifecycleTest, SigtermExitsCleanlyAndDetachesEverything) {
  TlstapSession tap;
  ASSERT_NO_FATAL_FAILURE(tap.Start({"--comm", kComm}));
  // tlstap's own objects: another tlstap (a benchmark) may run beside it.
  BpfObjects mine = BpfObjectsOf(tap.pid());
  ASSERT_FALSE(mine.progs.empty());
  ASSERT_FALSE(mine.links.empty());
  ASSERT_FALSE(mine.maps.empty());

  std::map<uint32_t, std::string> names;
  EXPECT_EQ(StillListed("prog", mine.progs, &names), mine.progs);
  std::set<std::string> prog_names;
  for (const auto& [id, name] : names) prog_names.insert(name);
  EXPECT_TRUE(prog_names.contains("ssl_call_exit") && prog_names.contains("ssl_write_enter") &&
              prog_names.contains("ssl_read_enter"))
      << "tlstap's programs: " << ::testing::PrintToString(prog_names);
  // The socket hooks: the tracepoints where the kernel has them (6.3+),
  // else sys_enter; never both.
  const bool tracepoints = KernelHasSocketTracepoints();
  EXPECT_EQ(prog_names.contains("sock_send"), tracepoints);
  EXPECT_EQ(prog_names.contains("sock_recv"), tracepoints);
  EXPECT_EQ(prog_names.contains("sys_enter"), !tracepoints)
      << "tlstap's programs: " << ::testing::PrintToString(prog_names);
  EXPECT_EQ(StillListed("link", mine.links), mine.links);
  EXPECT_EQ(StillListed("map", mine.maps), mine.maps);

  Capture capture;
  ASSERT_NO_FATAL_FAILURE(tap.Stop(&capture, SIGTERM));
  EXPECT_EQ(capture.exit_status, 0);
  const nlohmann::json* stats = capture.final_stats();
  ASSERT_TRUE(stats) << "no final stats line";
  EXPECT_EQ(capture.stats.back(), *stats) << "the final stats line comes last";
  for (const char* key :
       {"calls", "call_bytes", "events", "captured_bytes", "attributed_bytes", "attributed_share",
        "targets", "probes", "stale_entries", "nested_calls", "lost"}) {
    EXPECT_TRUE(stats->contains(key)) << key << " missing from " << stats->dump();
  }
  EXPECT_EQ(stats->value("lost", nlohmann::json::object()).value("ringbuf_bytes", -1), 0);

  // The kernel frees programs and maps after their last reference, a moment
  // after the process is gone.
  for (const char* kind : {"link", "prog", "map"}) {
    const std::set<uint32_t>& ids = std::string(kind) == "prog"   ? mine.progs
                                    : std::string(kind) == "link" ? mine.links
                                                                  : mine.maps;
    std::set<uint32_t> left;
    std::map<uint32_t, std::string> left_names;
    EXPECT_TRUE(Eventually(
        [&] {
          left_names.clear();
          left = StillListed(kind, ids, &left_names);
          return left.empty();
        },
        10s))
        << "tlstap exited, yet bpftool " << kind << " show still lists "
        << ::testing::PrintToString(left_names);
  }
}

// A client killed while blocked in SSL_read_ex: its sessions in conns (key:
// tgid, pad, SSL*) go with it. The per-thread call state (active_calls) is
// task-local storage, which the kernel frees with the thread: the test checks
// the map is of that type.
TEST_F(LifecycleTest, ProcessKilledInsideSslReadLeavesNoState) {
  TempDir dir;
  Certificate cert;
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
  TlstapSession tap;
  ASSERT_NO_FATAL_FAILURE(tap.Start({"--comm", kComm}));
  BpfObjects mine = BpfObjectsOf(tap.pid());
  std::vector<uint32_t> map_ids(mine.maps.begin(), mine.maps.end());
  uint32_t active_calls = 0, conns = 0;
  ASSERT_NO_FATAL_FAILURE(FindMap(map_ids, "active_calls", &active_calls));
  ASSERT_NO_FATAL_FAILURE(FindMap(map_ids, "conns", &conns));
  ASSERT_NE(active_calls, 0u) << "tlstap holds no map named active_calls";
  ASSERT_NE(conns, 0u) << "tlstap holds no map named conns";
  nlohmann::json active_calls_info;
  ASSERT_NO_FATAL_FAILURE(
      Bpftool({"map", "show", "id", std::to_string(active_calls)}, &active_calls_info));
  EXPECT_EQ(active_calls_info.value("type", ""), "task_storage") << active_calls_info.dump();

  // The client sends 100 bytes (a session in conns), then blocks in
  // SSL_read_ex: the silent server never answers.
  PeerOptions server_options = ServerOptions("silent", cert);
  server_options.comm = kComm;
  server_options.tag = "killed";
  PeerPair peers;
  ASSERT_NO_FATAL_FAILURE(StartPair(server_options, ClientOptions("hang", server_options), &peers));
  ASSERT_NO_FATAL_FAILURE(WaitForPeerEvent(*peers.client, "hanging", nullptr));
  const pid_t pid = peers.client->pid();
  auto has_conn = [&] {
    std::vector<std::vector<uint8_t>> keys;
    DumpMapKeys(conns, &keys);
    return std::ranges::any_of(keys, [&](const auto& k) { return KeyU32(k) == uint32_t(pid); });
  };
  ASSERT_TRUE(Eventually(has_conn, 10s))
      << "no conns entry with tgid " << pid << " after its write";

  peers.client->Signal(SIGKILL);
  ASSERT_EQ(peers.client->Wait(10s), -SIGKILL);
  EXPECT_TRUE(Eventually([&] { return !has_conn(); }, 5s))
      << "conns still has a session of the killed client (tgid " << pid << ")";

  EXPECT_EQ(peers.server->Wait(10s), 0) << peers.server->Stderr();
  Capture capture;
  ASSERT_NO_FATAL_FAILURE(tap.Stop(&capture));
  // What it sent before dying was captured.
  ExpectStream(capture,
               {pid, kComm, peers.client_info.fd, peers.client_info.laddr, peers.client_info.raddr},
               "tx", PeerStream(server_options, "c2s"));
}

}  // namespace
}  // namespace tlstap::bpf_test
