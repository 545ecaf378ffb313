#include "tests/bpf/test_env.h"

#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/bpf/subprocess.h"

namespace tlstap::bpf_test {

TempDir::TempDir() {
  const char* tmp = getenv("TMPDIR");
  std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/tlstap-bpf-XXXXXX";
  if (mkdtemp(templ.data())) path_ = templ;
}

TempDir::~TempDir() {
  if (path_.empty() || getenv("TLSTAP_KEEP_TMP")) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void SmallTmpfs::Mount(const std::string& path, std::string_view size) {
  ASSERT_EQ(mkdir(path.c_str(), 0700), 0) << path;
  RunResult mounted = RunToEnd(
      Command({"/usr/bin/mount", "-t", "tmpfs", "-o", "size=" + std::string(size), "tmpfs", path}),
      10s);
  ASSERT_EQ(mounted.status, 0) << mounted.err;
  path_ = path;
}

SmallTmpfs::~SmallTmpfs() {
  if (!path_.empty()) RunToEnd(Command({"/usr/bin/umount", path_}), 10s);
}

void MakeCertificate(const TempDir& dir, Certificate* out) {
  ASSERT_FALSE(dir.path().empty()) << "mkdtemp failed";
  out->cert = dir / "cert.pem";
  out->key = dir / "key.pem";
  RunResult r = RunToEnd(Command({kOpenssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                                  "ec_paramgen_curve:P-256", "-nodes", "-keyout", out->key, "-out",
                                  out->cert, "-days", "2", "-subj", "/CN=localhost"}),
                         60s);
  ASSERT_EQ(r.status, 0) << "openssl req failed: " << r.err;
}

void MakeNssDb(const TempDir& dir) {
  ASSERT_FALSE(dir.path().empty());
  WriteFile(dir / "noise", Payload("nss-noise", 64));
  const std::string db = "sql:" + dir.path();
  RunResult init = RunToEnd(Command({kCertutil, "-N", "-d", db, "--empty-password"}), 60s);
  ASSERT_EQ(init.status, 0) << "certutil -N: " << init.err;
  RunResult cert =
      RunToEnd(Command({kCertutil, "-S", "-d", db, "-n", "server", "-s", "CN=localhost", "-x", "-t",
                        "CT,,", "-k", "ec", "-q", "nistp256", "-z", dir / "noise", "-v", "2"}),
               60s);
  ASSERT_EQ(cert.status, 0) << "certutil -S: " << cert.err;
}

std::string Payload(std::string_view seed, size_t size) {
  std::string out;
  out.reserve(size + 64);
  static constexpr char kHex[] = "0123456789abcdef";
  for (size_t block = 0; out.size() < size; ++block) {
    std::string input = std::string(seed) + "/" + std::to_string(block);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(input.data(), input.size(), digest, &n, EVP_sha256(), nullptr);
    for (unsigned int i = 0; i < n; ++i) {
      out += kHex[digest[i] >> 4];
      out += kHex[digest[i] & 0xf];
    }
  }
  out.resize(size);
  return out;
}

std::string SizeName(size_t size) {
  if (size >= (1u << 20) && size % (1u << 20) == 0) return std::to_string(size >> 20) + "MiB";
  if (size >= 1024 && size % 1024 == 0) return std::to_string(size >> 10) + "KiB";
  return std::to_string(size) + "B";
}

::testing::AssertionResult SameBytes(std::string_view actual, std::string_view expected) {
  if (actual == expected) return ::testing::AssertionSuccess();
  size_t at = 0;
  while (at < actual.size() && at < expected.size() && actual[at] == expected[at]) ++at;
  auto excerpt = [at](std::string_view s) {
    size_t from = at < 16 ? 0 : at - 16;
    std::string out;
    for (char c : s.substr(from, 48)) {
      unsigned char u = static_cast<unsigned char>(c);
      if (u >= 0x20 && u < 0x7f && u != '\\') {
        out += c;
      } else {
        char buf[8];
        snprintf(buf, sizeof(buf), "\\x%02x", u);
        out += buf;
      }
    }
    return out;
  };
  size_t from = at < 16 ? 0 : at - 16;
  return ::testing::AssertionFailure()
         << "got " << actual.size() << " bytes, expected " << expected.size()
         << "; first difference at offset " << at << "\n  got      [" << from << "..]: \""
         << excerpt(actual) << "\"\n  expected [" << from << "..]: \"" << excerpt(expected) << "\"";
}

void WriteFile(const std::string& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  out.close();
  ASSERT_TRUE(out) << "cannot write " << path;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> TsharkTls(const std::string& path, int tls_port,
                                   std::vector<std::string> args) {
  std::vector<std::string> argv = {kTshark, "-r", path, "-d",
                                   "tcp.port==" + std::to_string(tls_port) + ",tls"};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

std::pair<std::string, std::string> SplitFollowTls(const std::string& follow, int server_port) {
  std::vector<std::string> lines;
  std::istringstream in(follow);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::string c2s, s2c;
  bool node0_is_server = false;
  size_t i = 0;
  for (; i < lines.size() && !lines[i].starts_with("Node 1:"); ++i) {
    if (lines[i].starts_with("Node 0:")) {
      node0_is_server = lines[i].ends_with(":" + std::to_string(server_port));
    }
  }
  for (++i; i < lines.size() && !lines[i].starts_with("====="); ++i) {
    const bool from_server = lines[i].starts_with("\t") != node0_is_server;
    const size_t length = std::stoul(lines[i].substr(lines[i].starts_with("\t") ? 1 : 0));
    std::string block;
    while (block.size() < length && i + 1 < lines.size()) {
      if (!block.empty()) block += '\n';  // a newline of the data ends a line
      block += lines[++i];
    }
    (from_server ? s2c : c2s) += block;
  }
  return {c2s, s2c};
}

void BpfTest::SetUp() {
  ASSERT_EQ(geteuid(), 0u) << "the bpf tier loads BPF programs and attaches uprobes: run "
                              "`ctest -L bpf` as root";
  for (const char* tool : {kTlstap, kPython, kOpenssl, kCurl, "/usr/sbin/bpftool",
                           "/usr/bin/setpriv", "/usr/bin/unshare"}) {
    ASSERT_EQ(access(tool, X_OK), 0)
        << tool << " is missing: build tlstap, or run scripts/install-deps.sh for the tools";
  }
  ASSERT_EQ(access(kSystemLibssl, R_OK), 0) << kSystemLibssl << " is missing (install libssl3)";
}

}  // namespace tlstap::bpf_test
