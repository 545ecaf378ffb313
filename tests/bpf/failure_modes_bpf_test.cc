// What tlstap says when it cannot run: the documented exit status and one
// line on stderr starting "tlstap: ", nothing from libbpf. And -w's file
// rules: a symbolic link is refused, a new file is created 0600.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "tests/bpf/python_peer.h"
#include "tests/bpf/subprocess.h"
#include "tests/bpf/test_env.h"
#include "tests/bpf/tlstap_session.h"

namespace tlstap::bpf_test {
namespace {

class FailureModeTest : public BpfTest {
 protected:
  // Runs argv; expects exit status `status` and exactly one stderr line
  // starting "tlstap: " that mentions the cause.
  void ExpectFailure(const std::vector<std::string>& argv, int status, std::string_view mention) {
    RunResult r = RunToEnd(Command(argv), 60s);
    ASSERT_TRUE(r.status.has_value()) << JoinArgv(argv) << " did not finish; stderr:\n" << r.err;
    EXPECT_EQ(*r.status, status) << JoinArgv(argv) << "\nstderr:\n" << r.err;
    EXPECT_TRUE(r.err.starts_with("tlstap: ")) << "stderr:\n" << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line; stderr:\n" << r.err;
    EXPECT_TRUE(r.err.ends_with("\n")) << "stderr:\n" << r.err;
    EXPECT_NE(r.err.find(mention), std::string::npos) << "stderr:\n" << r.err;
    EXPECT_EQ(r.out, "") << "stdout";
  }

  // sh -c script with $TLSTAP set, in a private mount namespace.
  void ExpectFailureInMountNamespace(const std::vector<std::string>& unshare_flags,
                                     const std::string& script, int status,
                                     std::string_view mention) {
    std::vector<std::string> argv = {"/usr/bin/unshare"};
    argv.insert(argv.end(), unshare_flags.begin(), unshare_flags.end());
    argv.insert(argv.end(), {"/bin/sh", "-c", "TLSTAP=" + std::string(kTlstap) + "; " + script});
    ExpectFailure(argv, status, mention);
  }
};

TEST_F(FailureModeTest, NotRootExits3) {
  ExpectFailure({"/usr/bin/setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                 "--inh-caps=-all", kTlstap, "--json"},
                3, "root");
}

TEST_F(FailureModeTest, NoBtfExits4) {
  ExpectFailureInMountNamespace(
      {"-m"}, "mount -t tmpfs none /sys/kernel/btf && exec \"$TLSTAP\" --json", 4, "BTF");
}

TEST_F(FailureModeTest, NoUprobesExits5) {
  ExpectFailureInMountNamespace(
      {"-m"}, "mount -t tmpfs none /sys/bus/event_source/devices && exec \"$TLSTAP\" --json", 5,
      "uprobe");
}

// A new pid namespace's /proc shows only its own processes (none maps
// libssl), and an empty linker cache names no library.
TEST_F(FailureModeTest, NoTlsLibraryExits6) {
  ExpectFailureInMountNamespace({"-m", "-p", "-f", "--mount-proc"},
                                "mount --bind /dev/null /etc/ld.so.cache && exec \"$TLSTAP\"", 6,
                                "no TLS library");
}

TEST_F(FailureModeTest, WriteToSymlinkRefusedExits2) {
  TempDir dir;
  const std::string target = dir / "target";
  const std::string link = dir / "link";
  ASSERT_NO_FATAL_FAILURE(WriteFile(target, "precious\n"));
  ASSERT_EQ(chmod(target.c_str(), 0644), 0);
  std::filesystem::create_symlink(target, link);
  ExpectFailure({kTlstap, "--json", "-w", link}, 2, "symbolic link");
  EXPECT_EQ(ReadFile(target), "precious\n");
  struct stat st {};
  ASSERT_EQ(stat(target.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u) << "the link's target must not be touched";
}

// 0600 whatever the umask, for a new file and for one that was there.
TEST_F(FailureModeTest, WriteCreatesFileWithMode0600) {
  TempDir dir;
  const std::string fresh = dir / "fresh.jsonl";
  const std::string existing = dir / "existing.jsonl";
  ASSERT_NO_FATAL_FAILURE(WriteFile(existing, "old contents\n"));
  ASSERT_EQ(chmod(existing.c_str(), 0666), 0);
  for (const std::string& path : {fresh, existing}) {
    SCOPED_TRACE(path);
    SpawnOptions options = Command({kTlstap, "--json", "-w", path, "--comm", "no-such-comm"});
    options.stdin_pipe = false;
    options.umask = 0;
    Subprocess tap(options);
    ASSERT_TRUE(tap.ok()) << tap.error();
    ASSERT_TRUE(tap.WaitForStderr(
        [](std::string_view err) { return err.find("tlstap: capturing from ") != err.npos; }, 120s))
        << tap.Stderr();
    struct stat st {};
    ASSERT_EQ(lstat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISREG(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    tap.Signal(SIGINT);
    EXPECT_EQ(tap.Wait(60s), 0) << tap.Stderr();
    ASSERT_EQ(lstat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    std::string contents = ReadFile(path);
    EXPECT_TRUE(contents.starts_with("{\"type\":\"stats\"")) << contents;
  }
}

// `tlstap --json | head -c 1`: once the reader is gone, tlstap stops at its
// next write with one line, like tcpdump, instead of capturing into nothing.
TEST_F(FailureModeTest, ClosedOutputStopsWithOneLine) {
  TempDir dir;
  Certificate cert;
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert));
  const std::string comm = "tlstap-pipe";
  SpawnOptions options =
      Command({"/bin/bash", "-c",
               std::string(kTlstap) + " --json --comm " + comm +
                   " | head -c 1 >/dev/null; echo \"tlstap exit status ${PIPESTATUS[0]}\" >&2"});
  options.stdin_pipe = false;
  Subprocess shell(options);
  ASSERT_TRUE(shell.ok()) << shell.error();
  ASSERT_TRUE(shell.WaitForStderr(
      [](std::string_view err) { return err.find("tlstap: capturing from ") != err.npos; }, 120s))
      << shell.Stderr();
  // TLS traffic until tlstap notices (its first write may still fit the pipe).
  std::optional<int> status;
  for (int round = 0; round < 10 && !status; ++round) {
    PeerOptions server = ServerOptions("exchange", cert);
    server.comm = comm;
    server.tag = "closed-output-" + std::to_string(round);
    PeerOptions client = ClientOptions("exchange", server);
    client.comm = comm;
    PeerPair peers;
    ASSERT_NO_FATAL_FAILURE(StartPair(server, client, &peers));
    ASSERT_EQ(peers.client->Wait(30s), 0) << peers.client->Stderr();
    ASSERT_EQ(peers.server->Wait(30s), 0) << peers.server->Stderr();
    status = shell.Wait(1s);
  }
  ASSERT_TRUE(status.has_value()) << "tlstap still runs with nobody reading; stderr:\n"
                                  << shell.Stderr();
  EXPECT_EQ(*status, 0);
  const std::string err = shell.Stderr();
  // A reader gone is a normal stop (exit 0), told apart from a failed write
  // (cli_bpf_test's OutputFailureTest: exit 1).
  EXPECT_NE(err.find("tlstap: the reader of standard output went away; stopping\n"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("tlstap exit status 0"), std::string::npos) << err;
}

}  // namespace
}  // namespace tlstap::bpf_test
