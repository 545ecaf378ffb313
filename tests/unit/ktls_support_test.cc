// loader::ktls_support on fake trees: what tlstap says about kernel TLS
// from /sys (the kprobe PMU), /proc/kallsyms (the tls module loaded) and
// the module files (not loaded yet, or no kernel TLS at all).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "loader/ktls.h"

namespace tlstap::loader {
namespace {

namespace fs = std::filesystem;

constexpr char kRelease[] = "6.1.0-56-amd64";

class KtlsSupport : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ktls-support-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    fs::create_directories(root_ / "proc");
    std::ofstream(root_ / "proc/kallsyms") << "ffffffff81000000 T _stext\n";
  }
  void TearDown() override { fs::remove_all(root_); }

  void AddKprobes() {
    fs::create_directories(root_ / "sys/bus/event_source/devices/kprobe");
    std::ofstream(root_ / "sys/bus/event_source/devices/kprobe/type") << "6\n";
  }
  void AddModuleFile(const fs::path& base) {
    fs::path dir = root_ / base / "lib/modules" / kRelease / "kernel/net/tls";
    fs::create_directories(dir);
    std::ofstream(dir / "tls.ko.xz") << "x";
  }

  fs::path root_;
};

TEST_F(KtlsSupport, NoKprobesSaysSo) {
  AddModuleFile("");
  auto s = ktls_support(root_, kRelease);
  EXPECT_EQ(s.state, loader::KtlsSupport::kUnavailable);
  EXPECT_NE(s.why.find("no kprobes"), std::string::npos) << s.why;
}

TEST_F(KtlsSupport, LoadedModuleIsReady) {
  AddKprobes();
  std::ofstream(root_ / "proc/kallsyms", std::ios::app)
      << "ffffffffc0a01230 t tls_sw_sendmsg\t[tls]\n";
  EXPECT_EQ(ktls_support(root_, kRelease).state, loader::KtlsSupport::kReady);
}

TEST_F(KtlsSupport, ModuleFileNotLoadedYetIsWaited) {
  AddKprobes();
  AddModuleFile("");
  auto s = ktls_support(root_, kRelease);
  EXPECT_EQ(s.state, loader::KtlsSupport::kWaitingModule);
  EXPECT_NE(s.why.find("not loaded yet"), std::string::npos) << s.why;
}

TEST_F(KtlsSupport, NoModuleAnywhereIsNoKernelTls) {
  AddKprobes();
  auto s = ktls_support(root_, kRelease);
  EXPECT_EQ(s.state, loader::KtlsSupport::kUnavailable);
  EXPECT_NE(s.why.find("CONFIG_TLS is off"), std::string::npos) << s.why;
}

// modprobe's own MODPROBE_OPTIONS -d DIR (as the vm tier's guests set it)
// is where the module may be too; other options are ignored.
TEST_F(KtlsSupport, ModprobeBaseDirectoryIsLookedIn) {
  AddKprobes();
  AddModuleFile("vm/linux-6.1/root");
  EXPECT_EQ(ktls_support(root_, kRelease, "").state, loader::KtlsSupport::kUnavailable);
  EXPECT_EQ(ktls_support(root_, kRelease, "-d /vm/linux-6.1/root").state,
            loader::KtlsSupport::kWaitingModule);
  EXPECT_EQ(ktls_support(root_, kRelease, "-q --dirname=/vm/linux-6.1/root").state,
            loader::KtlsSupport::kWaitingModule);
  EXPECT_EQ(ktls_support(root_, kRelease, "--dirname /vm/linux-6.1/root -v").state,
            loader::KtlsSupport::kWaitingModule);
  EXPECT_EQ(ktls_support(root_, kRelease, "-d").state, loader::KtlsSupport::kUnavailable);
  EXPECT_EQ(ktls_support(root_, kRelease, "-d /elsewhere").state,
            loader::KtlsSupport::kUnavailable);
}

}  // namespace
}  // namespace tlstap::loader
