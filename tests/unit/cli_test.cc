// Command line parsing, output files and pre-flight checks.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>

#include "cli/options.h"
#include "export/json/json_lines.h"
#include "export/output_file.h"
#include "loader/preflight.h"
#include "util/private_file.h"

namespace tlstap {
namespace {

Result<cli::Options> Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "tlstap");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return cli::parse_options(static_cast<int>(args.size()), argv.data());
}

TEST(Options, Defaults) {
  auto o = Parse({});
  ASSERT_TRUE(o);
  EXPECT_FALSE(o->json);
  EXPECT_FALSE(o->hex);
  EXPECT_TRUE(o->filters.pids.empty());
  EXPECT_EQ(o->ring_bytes, 64u << 20);
  EXPECT_FALSE(o->stats_interval);
  EXPECT_FALSE(o->list);
  EXPECT_EQ(o->stacks,
            (std::set<discovery::LibKind>{
                discovery::LibKind::kOpenSsl, discovery::LibKind::kBoringSsl,
                discovery::LibKind::kGnuTls, discovery::LibKind::kNss, discovery::LibKind::kGo}));
}

TEST(Options, StacksChosenAndTurnedOff) {
  using discovery::LibKind;
  auto only = Parse({"--lib", "gnutls"});
  ASSERT_TRUE(only) << only.error().message;
  EXPECT_EQ(only->stacks, std::set<LibKind>{LibKind::kGnuTls});
  auto both = Parse({"--lib", "openssl,gnutls", "--list"});
  ASSERT_TRUE(both) << both.error().message;
  EXPECT_EQ(both->stacks, (std::set<LibKind>{LibKind::kOpenSsl, LibKind::kGnuTls}));
  EXPECT_TRUE(both->list);
  auto off = Parse({"--no-gnutls", "--no-go"});
  ASSERT_TRUE(off);
  EXPECT_EQ(off->stacks,
            (std::set<LibKind>{LibKind::kOpenSsl, LibKind::kBoringSsl, LibKind::kNss}));
  auto go = Parse({"--lib", "go"});
  ASSERT_TRUE(go);
  EXPECT_EQ(go->stacks, std::set<LibKind>{LibKind::kGo});
  // --no-X wins over --lib X, whatever the order.
  auto mixed = Parse({"--no-openssl", "--lib", "openssl,gnutls"});
  ASSERT_TRUE(mixed);
  EXPECT_EQ(mixed->stacks, std::set<LibKind>{LibKind::kGnuTls});
}

TEST(Options, NssAndBoringSslStacks) {
  using discovery::LibKind;
  auto nss = Parse({"--lib", "nss"});
  ASSERT_TRUE(nss) << nss.error().message;
  EXPECT_EQ(nss->stacks, std::set<LibKind>{LibKind::kNss});
  auto boring = Parse({"--lib", "boringssl,nss", "--no-nss"});
  ASSERT_TRUE(boring) << boring.error().message;
  EXPECT_EQ(boring->stacks, std::set<LibKind>{LibKind::kBoringSsl});
  auto no_new = Parse({"--no-nss", "--no-boringssl"});
  ASSERT_TRUE(no_new) << no_new.error().message;
  EXPECT_EQ(no_new->stacks, (std::set<LibKind>{LibKind::kOpenSsl, LibKind::kGnuTls, LibKind::kGo}));
  // Every kind's name is one --lib takes, and lib_kind_name round-trips.
  for (LibKind kind : discovery::kLibKinds) {
    auto one = Parse({"--lib", std::string(discovery::lib_kind_name(kind))});
    ASSERT_TRUE(one) << discovery::lib_kind_name(kind);
    EXPECT_EQ(one->stacks, std::set<LibKind>{kind});
  }
  auto usage = Parse({"--help"});
  ASSERT_TRUE(usage);
  const std::string help = cli::usage_text();
  for (const char* text :
       {"      --no-nss           do not hook NSS (libnspr4's PR_Read/PR_Write on SSL sockets)\n",
        "      --no-boringssl     do not hook BoringSSL", "      --no-go            do not hook Go",
        "hook only these stacks: openssl, boringssl, gnutls, nss, go,\n                         "
        "ktls\n",
        "      --no-ktls          do not probe"}) {
    EXPECT_NE(help.find(text), std::string::npos) << text;
  }
  // Every stack of the table has its --no-NAME line, and --no-NAME works.
  for (const discovery::Stack& stack : discovery::kStacks) {
    EXPECT_NE(help.find("--no-" + std::string(stack.name) + " "), std::string::npos) << stack.name;
    auto without = Parse({"--no-" + std::string(stack.name)});
    ASSERT_TRUE(without) << without.error().message;
    EXPECT_FALSE(without->stacks.contains(stack.kind)) << stack.name;
  }
}

TEST(Options, FiltersAndOutput) {
  auto o = Parse({"-p", "10", "--pid", "20", "--comm", "curl", "-u", "0", "--json", "-x",
                  "--stats=5", "-w", "/tmp/x.jsonl", "--ring-size", "64"});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->filters.pids, (std::vector<pid_t>{10, 20}));
  EXPECT_EQ(o->filters.comms, std::vector<std::string>{"curl"});
  EXPECT_EQ(o->filters.uid, 0u);
  EXPECT_TRUE(o->json);
  EXPECT_TRUE(o->hex);
  EXPECT_EQ(o->stats_interval, 5);
  EXPECT_EQ(o->write_path, "/tmp/x.jsonl");
  EXPECT_EQ(o->ring_bytes, 64u << 20);
}

// -w - and -w /dev/stdout (a symbolic link, which files are never opened
// through) are standard output: JSON lines there, key log lines for tlstap keys.
TEST(Options, WriteToStandardOutputByName) {
  for (const char* name : {"-", "/dev/stdout"}) {
    auto o = Parse({"-w", name});
    ASSERT_TRUE(o) << o.error().message;
    EXPECT_EQ(o->write_path, "");
    EXPECT_TRUE(o->json);
    auto keys = Parse({"keys", "-w", name});
    ASSERT_TRUE(keys) << keys.error().message;
    EXPECT_EQ(keys->keylog_path, "");
    EXPECT_FALSE(keys->json);
  }
}

TEST(Options, UserNameResolves) {
  auto o = Parse({"--uid", "root", "--stats"});
  ASSERT_TRUE(o);
  EXPECT_EQ(o->filters.uid, 0u);
  EXPECT_EQ(o->stats_interval, 10);
}

// kTLS is on by default; --lib names it like a library stack.
TEST(Options, KtlsIsChosenLikeAStack) {
  auto all = Parse({});
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->ktls);
  auto only = Parse({"--lib", "ktls"});
  ASSERT_TRUE(only);
  EXPECT_TRUE(only->ktls);
  EXPECT_TRUE(only->stacks.empty());
  auto libs = Parse({"--lib", "openssl"});
  ASSERT_TRUE(libs);
  EXPECT_FALSE(libs->ktls);
  auto both = Parse({"--lib", "go,ktls"});
  ASSERT_TRUE(both);
  EXPECT_TRUE(both->ktls);
  EXPECT_EQ(both->stacks, std::set{discovery::LibKind::kGo});
  auto off = Parse({"--no-ktls"});
  ASSERT_TRUE(off);
  EXPECT_FALSE(off->ktls);
  EXPECT_EQ(off->stacks.size(), std::size(discovery::kLibKinds));
}

TEST(Options, KtlsTriesFentryUnlessToldKprobes) {
  auto plain = Parse({});
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->ktls_kprobes);
  auto kprobes = Parse({"--ktls-kprobes"});
  ASSERT_TRUE(kprobes);
  EXPECT_TRUE(kprobes->ktls_kprobes);
  EXPECT_TRUE(kprobes->ktls);
}

TEST(Options, HoldNewIsOptInWithALimit) {
  auto plain = Parse({});
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->hold_new_ms.has_value());
  auto held = Parse({"--hold-new"});
  ASSERT_TRUE(held) << held.error().message;
  EXPECT_EQ(held->hold_new_ms, 1000);
  auto limited = Parse({"--hold-new=250"});
  ASSERT_TRUE(limited) << limited.error().message;
  EXPECT_EQ(limited->hold_new_ms, 250);
}

TEST(Options, BadInputIsAUsageErrorWithOneLine) {
  for (auto args : std::vector<std::vector<std::string>>{
           {"--pid", "abc"},
           {"--pid", "0"},
           {"--ring-size", "3"},
           {"--comm", "a-name-longer-than-15"},
           {"--uid", "no-such-user-here"},
           {"--stats=0"},
           {"--hold-new=0"},
           {"--hold-new=60001"},
           {"--hold-new=soon"},
           {"--bogus"},
           {"-p"},
           {"--lib", "wolfssl"},
           {"--lib", "nss,rustls"},
           {"--lib", "openssl,"},
           {"--lib", ""},
           {"--no-openssl", "--no-gnutls", "--no-nss", "--no-boringssl", "--no-go", "--no-ktls"},
           {"--lib", "ktls", "--no-ktls"},
           {"--lib", "nss", "--no-nss"},
           {"stray"}}) {
    auto o = Parse(args);
    ASSERT_FALSE(o) << args[0];
    EXPECT_EQ(o.error().code, ExitCode::kUsage);
    EXPECT_EQ(o.error().message.find('\n'), std::string::npos);
    EXPECT_NE(o.error().message.find("tlstap --help"), std::string::npos);
  }
}

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tlstap-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

using OutputFile = TempDir;

TEST_F(OutputFile, CreatedWithMode0600) {
  auto path = dir_ / "capture.jsonl";
  auto out = exporting::Output::open(path);
  ASSERT_TRUE(out);
  **out << "x\n";
  out->reset();
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 2);
}

TEST_F(OutputFile, ExistingFileIsTruncatedAndTightened) {
  auto path = dir_ / "old.jsonl";
  std::ofstream(path) << "old content";
  chmod(path.c_str(), 0644);
  ASSERT_TRUE(exporting::Output::open(path));
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 0);
}

TEST_F(OutputFile, SymlinkIsRefusedAndItsTargetUntouched) {
  auto target = dir_ / "target";
  std::ofstream(target) << "precious";
  std::filesystem::create_symlink(target, dir_ / "link");
  auto out = exporting::Output::open(dir_ / "link");
  ASSERT_FALSE(out);
  EXPECT_NE(out.error().message.find("symbolic link"), std::string::npos);
  std::ifstream in(target);
  std::string content;
  std::getline(in, content);
  EXPECT_EQ(content, "precious");
}

std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

std::string ReadPath(const std::filesystem::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A second name (hard link) could be anywhere, another user's directory
// included: refused in one line, nothing changed. (Another user's file is
// the bpf tier's: tests/bpf/cli_bpf_test.cc, as root.)
TEST_F(OutputFile, FileWithAnotherNameIsRefusedUntouched) {
  auto path = dir_ / "out.jsonl";
  std::ofstream(path) << "theirs";
  chmod(path.c_str(), 0600);
  ASSERT_EQ(link(path.c_str(), (dir_ / "other-name").c_str()), 0);
  for (OpenMode mode : {OpenMode::kTruncate, OpenMode::kAppend}) {
    auto fd = open_private_file(path, mode);
    ASSERT_FALSE(fd);
    EXPECT_EQ(fd.error().code, ExitCode::kUsage);
    EXPECT_EQ(fd.error().message,
              "cannot write " + path.string() +
                  ": the file has 2 names (hard links), through which others could read what "
                  "tlstap writes; remove it or choose another name");
  }
  EXPECT_EQ(ReadPath(path), "theirs");
  EXPECT_FALSE(exporting::Output::open(path));
}

// A file whose mode let others open it may be open somewhere already: it is
// replaced, so that descriptor never sees what tlstap writes. Appending
// keeps what the file held.
TEST_F(OutputFile, FileOthersCouldOpenIsReplacedNotReused) {
  for (OpenMode mode : {OpenMode::kTruncate, OpenMode::kAppend}) {
    auto path = dir_ / (mode == OpenMode::kAppend ? "keys.log" : "out.jsonl");
    std::ofstream(path) << "before\n";
    ASSERT_EQ(chmod(path.c_str(), 0666), 0);
    int held = open(path.c_str(), O_RDONLY | O_CLOEXEC);  // someone's descriptor
    ASSERT_GE(held, 0);
    struct stat old_st {};
    ASSERT_EQ(fstat(held, &old_st), 0);
    {
      auto fd = open_private_file(path, mode);
      ASSERT_TRUE(fd) << fd.error().message;
      ASSERT_TRUE(write_all(fd->get(), "captured\n", path.string()));
    }
    struct stat st {};
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_NE(st.st_ino, old_st.st_ino);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    EXPECT_EQ(ReadPath(path), mode == OpenMode::kAppend ? "before\ncaptured\n" : "captured\n");
    EXPECT_EQ(ReadAll(held), "before\n");  // never a byte of the capture
    close(held);
  }
  // Nothing left beside them.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_), {}), 2);
}

// Devices and named pipes are written as they are: /dev/null, and a FIFO
// of this user's whose reader the user chose. A directory is refused.
TEST_F(OutputFile, DevicesAndNamedPipesAreWrittenAsTheyAre) {
  auto null = exporting::Output::open("/dev/null");
  ASSERT_TRUE(null) << null.error().message;
  auto fifo = dir_ / "fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  int reader = open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(reader, 0);
  {
    auto out = exporting::Output::open(fifo);
    ASSERT_TRUE(out) << out.error().message;
    **out << "through the pipe\n";
  }
  EXPECT_EQ(ReadAll(reader), "through the pipe\n");
  close(reader);
  auto dir = exporting::Output::open(dir_);
  ASSERT_FALSE(dir);
  EXPECT_EQ(dir.error().message, "cannot write " + dir_.string() + ": Is a directory");
}

// An output that cannot be written (/dev/full: ENOSPC) keeps the errno of
// the write that failed, and counts every event and record handed to it that
// never reached it: those in the buffer when it failed, and all later ones.
TEST_F(OutputFile, FailedWriteKeepsItsErrorAndCountsWhatWasNotWritten) {
  auto full = exporting::Output::open("/dev/full");
  ASSERT_TRUE(full) << full.error().message;
  EXPECT_EQ((*full)->name(), "/dev/full");
  exporting::JsonLinesExporter json(**full);
  capture::DataEvent e;
  e.data = std::string(100, 'x');
  e.len = 100;
  json.on_data(e);
  json.on_data(e);
  EXPECT_FALSE(json.failed());  // buffered
  json.flush();
  EXPECT_TRUE(json.failed());
  EXPECT_EQ(json.error(), ENOSPC);
  EXPECT_EQ(json.output_name(), "/dev/full");
  json.on_data(e);
  json.on_record(protocols::Record{});
  capture::Stats stats;
  json.add_unwritten(&stats);
  EXPECT_EQ(stats.unwritten_events, 3u);
  EXPECT_EQ(stats.unwritten_bytes, 300u);
  EXPECT_EQ(stats.unwritten_records, 1u);
  bool named = false;
  for (const auto& [name, value] : stats.lost()) {
    if (name == "output_events") named = value == 3;
  }
  EXPECT_TRUE(named);

  // What reached the output is not counted lost.
  auto file = exporting::Output::open(dir_ / "ok.jsonl");
  ASSERT_TRUE(file);
  exporting::JsonLinesExporter ok(**file);
  ok.on_data(e);
  ok.flush();
  EXPECT_FALSE(ok.failed());
  capture::Stats none;
  ok.add_unwritten(&none);
  EXPECT_EQ(none.unwritten_events, 0u);
}

// --pid of a process that is not running, or of a thread, is one line and
// the usage exit code (it could never match: nothing would be captured).
using PidCheck = TempDir;

TEST_F(PidCheck, RunningProcessesPassOthersAreNamed) {
  auto status = [this](int pid, int tgid) {
    std::filesystem::create_directories(dir_ / std::to_string(pid));
    std::ofstream(dir_ / std::to_string(pid) / "status")
        << "Name:\tpython3\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t" << tgid
        << "\nNgid:\t0\nPid:\t" << pid << "\n";
  };
  status(100, 100);
  status(101, 100);  // a thread of 100
  EXPECT_TRUE(cli::check_pids({}, dir_));
  EXPECT_TRUE(cli::check_pids({100}, dir_));
  auto gone = cli::check_pids({100, 102}, dir_);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, ExitCode::kUsage);
  EXPECT_EQ(gone.error().message, "--pid 102: no such process");
  auto thread = cli::check_pids({101}, dir_);
  ASSERT_FALSE(thread);
  EXPECT_EQ(thread.error().code, ExitCode::kUsage);
  EXPECT_EQ(thread.error().message, "--pid 101: a thread of process 100; --pid takes a process id");
  // The real /proc: this process is there; a pid above the kernel's limit
  // (PID_MAX_LIMIT, 4194304) never is.
  EXPECT_TRUE(cli::check_pids({getpid()}));
  auto never = cli::check_pids({0x3fffffff});
  ASSERT_FALSE(never);
  EXPECT_EQ(never.error().message, "--pid 1073741823: no such process");
}

using Preflight = TempDir;

TEST_F(Preflight, KernelChecksNameWhatIsMissing) {
  auto no_btf = loader::check_kernel(dir_);
  ASSERT_FALSE(no_btf);
  EXPECT_EQ(no_btf.error().code, ExitCode::kNoBtf);
  EXPECT_NE(no_btf.error().message.find("CONFIG_DEBUG_INFO_BTF"), std::string::npos);

  std::filesystem::create_directories(dir_ / "sys/kernel/btf");
  std::ofstream(dir_ / "sys/kernel/btf/vmlinux") << "";
  auto no_uprobes = loader::check_kernel(dir_);
  ASSERT_FALSE(no_uprobes);
  EXPECT_EQ(no_uprobes.error().code, ExitCode::kNoUprobes);

  std::filesystem::create_directories(dir_ / "sys/bus/event_source/devices/uprobe");
  std::ofstream(dir_ / "sys/bus/event_source/devices/uprobe/type") << "7\n";
  EXPECT_TRUE(loader::check_kernel(dir_));
}

}  // namespace
}  // namespace tlstap

namespace tlstap {
namespace {

// tlstap keys: OpenSSL, BoringSSL, GnuTLS and Go only, no kTLS, -w names the key log; --keylog
// beside a capture.
TEST(Options, CommRepeatsForMoreNamesUpToTheKernelMapSize) {
  auto two = Parse({"--comm", "curl", "-c", "nginx"});
  ASSERT_TRUE(two.has_value()) << two.error().message;
  EXPECT_EQ(two->filters.comms, (std::vector<std::string>{"curl", "nginx"}));
  std::vector<std::string> args;
  for (int i = 0; i <= TLSTAP_MAX_COMMS; ++i) {
    args.push_back("--comm");
    args.push_back("p" + std::to_string(i));
  }
  auto many = Parse(args);
  ASSERT_FALSE(many.has_value());
  EXPECT_EQ(many.error().message, "--comm: at most 64 command names (see tlstap --help)");
}

TEST(Options, KeysSubcommandAndKeylog) {
  auto keys = Parse({"keys", "-w", "/tmp/k.log", "--comm", "curl"});
  ASSERT_TRUE(keys) << keys.error().message;
  EXPECT_TRUE(keys->keys_only);
  EXPECT_EQ(keys->keylog_path, "/tmp/k.log");
  EXPECT_TRUE(keys->write_path.empty());
  EXPECT_EQ(keys->stacks, (std::set{discovery::LibKind::kOpenSsl, discovery::LibKind::kBoringSsl,
                                    discovery::LibKind::kGnuTls, discovery::LibKind::kGo}));
  EXPECT_FALSE(keys->ktls);
  EXPECT_EQ(keys->filters.comms, std::vector<std::string>{"curl"});
  auto to_stdout = Parse({"keys"});
  ASSERT_TRUE(to_stdout) << to_stdout.error().message;
  EXPECT_TRUE(to_stdout->keylog_path.empty());
  EXPECT_FALSE(Parse({"keys", "--json"}));
  EXPECT_FALSE(Parse({"keys", "--keylog", "x"}));
  auto go_only = Parse({"keys", "--no-openssl", "--no-boringssl", "--no-gnutls"});
  ASSERT_TRUE(go_only) << go_only.error().message;
  EXPECT_EQ(go_only->stacks, std::set{discovery::LibKind::kGo});
  auto gnutls = Parse({"keys", "--lib", "gnutls"});
  ASSERT_TRUE(gnutls) << gnutls.error().message;
  EXPECT_EQ(gnutls->stacks, std::set{discovery::LibKind::kGnuTls});
  auto none = Parse({"keys", "--no-openssl", "--no-boringssl", "--no-gnutls", "--no-go"});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().message,
            "tlstap keys reads the secrets of openssl, boringssl, gnutls, go: with all of them "
            "off, nothing is left (see tlstap --help)");
  EXPECT_FALSE(Parse({"keys", "--lib", "nss"}));
  auto beside = Parse({"--keylog", "/tmp/k.log", "--json"});
  ASSERT_TRUE(beside) << beside.error().message;
  EXPECT_FALSE(beside->keys_only);
  EXPECT_EQ(beside->keylog_path, "/tmp/k.log");
  EXPECT_TRUE(beside->json);
}

TEST(Options, RecordsReplaceEventsUnlessBothAreAsked) {
  auto plain = Parse({});
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->records);
  EXPECT_TRUE(plain->events);
  auto records = Parse({"--records", "--json"});
  ASSERT_TRUE(records) << records.error().message;
  EXPECT_TRUE(records->records);
  EXPECT_FALSE(records->events);
  auto both = Parse({"--events", "--records", "-x"});
  ASSERT_TRUE(both) << both.error().message;
  EXPECT_TRUE(both->records);
  EXPECT_TRUE(both->events);
  EXPECT_TRUE(both->hex);
  for (auto args : std::vector<std::vector<std::string>>{
           {"--events"}, {"--records", "-x"}, {"keys", "--records"}, {"keys", "--events"}}) {
    auto o = Parse(args);
    ASSERT_FALSE(o) << args.back();
    EXPECT_EQ(o.error().code, ExitCode::kUsage);
    EXPECT_NE(o.error().message.find("tlstap --help"), std::string::npos);
  }
}

// --metrics: loopback unless an address is given; the events stay as they
// are (records are made for the metrics, not shown).
TEST(Options, MetricsAddressDefaultsToLoopback) {
  auto o = Parse({"--metrics", "9464"});
  ASSERT_TRUE(o) << o.error().message;
  ASSERT_TRUE(o->metrics);
  EXPECT_EQ(o->metrics->host, "127.0.0.1");
  EXPECT_EQ(o->metrics->port, 9464);
  EXPECT_FALSE(o->records);
  EXPECT_TRUE(o->events);
  o = Parse({"--metrics", "0.0.0.0:9100", "--records"});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->metrics->host, "0.0.0.0");
  EXPECT_TRUE(o->records);
  EXPECT_FALSE(Parse({})->metrics);
  for (auto args : std::vector<std::vector<std::string>>{{"--metrics", "host:80"},
                                                         {"--metrics", "0"},
                                                         {"--metrics"},
                                                         {"keys", "--metrics", "1"}}) {
    auto bad = Parse(args);
    ASSERT_FALSE(bad) << args.back();
    EXPECT_EQ(bad.error().code, ExitCode::kUsage);
    EXPECT_EQ(bad.error().message.find('\n'), std::string::npos);
  }
}

// --otlp: /v1/traces appended to a URL without a path (as
// OTEL_EXPORTER_OTLP_ENDPOINT), a path kept as given; the events stay as
// they are (records are made for the spans, not shown). Anything but an
// http(s) URL with a host is one line and the usage exit code.
TEST(Options, OtlpUrl) {
  auto o = Parse({"--otlp", "http://127.0.0.1:4318"});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->otlp_url, "http://127.0.0.1:4318/v1/traces");
  EXPECT_FALSE(o->records);
  EXPECT_TRUE(o->events);
  EXPECT_EQ(Parse({"--otlp", "https://collector.example:4318/"})->otlp_url,
            "https://collector.example:4318/v1/traces");
  EXPECT_EQ(Parse({"--otlp", "http://[::1]:4318"})->otlp_url, "http://[::1]:4318/v1/traces");
  EXPECT_EQ(Parse({"--otlp", "http://otel:4318/custom/traces"})->otlp_url,
            "http://otel:4318/custom/traces");
  EXPECT_EQ(Parse({})->otlp_url, "");
  for (auto args : std::vector<std::vector<std::string>>{{"--otlp", "127.0.0.1:4318"},
                                                         {"--otlp", "ftp://host/"},
                                                         {"--otlp", "http://"},
                                                         {"--otlp", "http:///v1/traces"},
                                                         {"--otlp", ""},
                                                         {"--otlp"},
                                                         {"keys", "--otlp", "http://h:1"}}) {
    auto bad = Parse(args);
    ASSERT_FALSE(bad) << args.back();
    EXPECT_EQ(bad.error().code, ExitCode::kUsage) << args.back();
    EXPECT_EQ(bad.error().message.find('\n'), std::string::npos) << bad.error().message;
  }
  auto bad = Parse({"--otlp", "ftp://host/"});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message,
            "--otlp takes an http:// or https:// URL with a host, e.g. http://127.0.0.1:4318 "
            "(scheme \"ftp\": \"ftp://host/\") (see tlstap --help)");
}

// -w FILE.pcapng is a packet capture; any other name keeps its JSON lines.
TEST(Options, PcapngFileIsAPacketCapture) {
  auto o = Parse({"-w", "out.pcapng", "-c", "curl"});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->pcapng_path, "out.pcapng");
  EXPECT_EQ(o->write_path, "");
  EXPECT_TRUE(o->interfaces.empty());
  EXPECT_TRUE(o->ports.empty());
  EXPECT_EQ(o->rotate_mib, 0u);
  EXPECT_EQ(o->reorder_delay_ms, 2000u);
  auto json = Parse({"-w", "out.pcapng.jsonl"});
  ASSERT_TRUE(json);
  EXPECT_EQ(json->write_path, "out.pcapng.jsonl");
  EXPECT_EQ(json->pcapng_path, "");
  auto all = Parse({"--write", "x.pcapng", "-i", "lo", "--interface", "eth0", "--port", "443",
                    "--port", "8443", "-C", "100", "--reorder-delay", "500", "--tc-clsact"});
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_EQ(all->interfaces, (std::vector<std::string>{"lo", "eth0"}));
  EXPECT_EQ(all->ports, (std::vector<uint16_t>{443, 8443}));
  EXPECT_EQ(all->rotate_mib, 100u);
  EXPECT_EQ(all->reorder_delay_ms, 500u);
  EXPECT_TRUE(all->tc_clsact);
  EXPECT_FALSE(o->tc_clsact);
  // The key log beside it is allowed; tlstap keys -w x.pcapng stays a key log.
  auto keylog = Parse({"-w", "x.pcapng", "--keylog", "k.log"});
  ASSERT_TRUE(keylog);
  EXPECT_EQ(keylog->keylog_path, "k.log");
  auto keys = Parse({"keys", "-w", "x.pcapng"});
  ASSERT_TRUE(keys);
  EXPECT_EQ(keys->keylog_path, "x.pcapng");
  EXPECT_EQ(keys->pcapng_path, "");
}

TEST(Options, PacketOptionsErrors) {
  auto bad = [](std::vector<std::string> args) {
    auto o = Parse(std::move(args));
    EXPECT_FALSE(o);
    return o ? std::string() : o.error().message;
  };
  EXPECT_EQ(bad({"-i", "lo"}),
            "-i, --port, -C, --reorder-delay and --tc-clsact go with -w FILE.pcapng (see tlstap "
            "--help)");
  EXPECT_EQ(bad({"-w", "x.jsonl", "--port", "443"}),
            "-i, --port, -C, --reorder-delay and --tc-clsact go with -w FILE.pcapng (see tlstap "
            "--help)");
  EXPECT_EQ(bad({"-w", "x.pcapng", "-j"}),
            "-w FILE.pcapng writes packets; -j, -x, --records, --events, --metrics, --otlp and "
            "--list go without it (see tlstap --help)");
  EXPECT_EQ(bad({"-w", "x.pcapng", "--port", "0"}),
            "--port takes 1 to 65535: 0 (see tlstap --help)");
  EXPECT_EQ(bad({"-w", "x.pcapng", "--port", "65536"}),
            "--port takes 1 to 65535: 65536 (see tlstap --help)");
  EXPECT_EQ(bad({"-w", "x.pcapng", "-C", "0"}),
            "-C takes a file size in MiB, 1 to 1048576 (see tlstap --help)");
  EXPECT_EQ(bad({"-w", "x.pcapng", "--reorder-delay", "-1"}),
            "--reorder-delay takes 0 to 600000 milliseconds (see tlstap --help)");
  EXPECT_EQ(bad({"-w", "x.pcapng", "-i", "a-name-far-too-long"}),
            "-i takes an interface name (1 to 15 characters): a-name-far-too-long (see tlstap "
            "--help)");
}

}  // namespace
}  // namespace tlstap
