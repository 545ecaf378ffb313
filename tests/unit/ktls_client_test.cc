// tools/ktls_client run as a program against its own test server: the status
// box, the hints, the reply, the one-line failures.
//
// On a kernel without kTLS (no tls module: /proc/net/tls_stat is missing)
// the box must say that kTLS is inactive, the hints must name the module,
// and the client must work all the same. With the module loaded (the vm
// tier's guests) kTLS must be active in each direction OpenSSL offloads:
// both under TLS 1.2, sending only under TLS 1.3 before OpenSSL 3.2.
#include <gtest/gtest.h>
#include <openssl/crypto.h>
#include <unistd.h>

#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "tests/bpf/subprocess.h"

namespace tlstap {
namespace {

using namespace std::chrono_literals;

constexpr char kTxInactive[] = "inactive: OpenSSL encrypts in user space";
constexpr char kRxInactive[] = "inactive: OpenSSL decrypts in user space";
constexpr char kTxActive[] = "active: the kernel encrypts what is sent";
constexpr char kRxActive[] = "active: the kernel decrypts what is received";
constexpr char kModuleHint[] =
    "  - The kernel's tls module is not loaded (there is no /proc/net/tls_stat).\n"
    "    Load it with `sudo modprobe tls` and run again; the kernel loads it by itself\n"
    "    only for root. If modprobe finds no module, this kernel was built without\n"
    "    CONFIG_TLS and has no kTLS at all.\n";
// What the test server sends, and the line before it.
constexpr char kReply[] =
    "received 121 bytes (SSL_read, until the server closed):\n"
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 37\r\n"
    "Connection: close\r\n\r\nhello from ktls_client's test server\n";

// Checked after a run: the client may have had the kernel load the module.
bool ktls_available() { return access("/proc/net/tls_stat", F_OK) == 0; }

bool openssl_receives_tls13_with_ktls() { return OpenSSL_version_num() >= 0x30200000L; }

struct ClientRun {
  std::optional<int> status;
  std::string out, err;
  std::map<std::string, std::string> box;  // label -> value
};

// The box's "| label  value |" rows; labels hold single spaces only.
std::map<std::string, std::string> box_rows(const std::string& out) {
  std::map<std::string, std::string> rows;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with("| ") || !line.ends_with(" |")) continue;
    std::string inner = line.substr(2, line.size() - 4);
    size_t gap = inner.find("  ");
    if (gap == std::string::npos) continue;
    size_t value = inner.find_first_not_of(' ', gap);
    size_t end = inner.find_last_not_of(' ');
    rows[inner.substr(0, gap)] = inner.substr(value, end + 1 - value);
  }
  return rows;
}

ClientRun run_client(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {KTLS_CLIENT};
  argv.insert(argv.end(), args.begin(), args.end());
  bpf_test::RunResult r = bpf_test::RunToEnd(bpf_test::Command(argv), 60s);
  return {r.status, r.out, r.err, box_rows(r.out)};
}

TEST(KtlsClient, WithoutArgumentsTalksToItsOwnServer) {
  ClientRun run = run_client({});
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_EQ(run.err, "");
  EXPECT_TRUE(std::regex_match(run.box["server"],
                               std::regex(R"(127\.0\.0\.1:\d+ \(ktls_client's own test server\))")))
      << run.box["server"];
  EXPECT_EQ(run.box["TLS version"], "TLSv1.3");
  EXPECT_EQ(run.box["cipher"], "TLS_AES_256_GCM_SHA384");
  EXPECT_EQ(run.box["certificate"], "the test server's own, self-signed; not checked");
  EXPECT_EQ(run.box["OpenSSL"], OpenSSL_version(OPENSSL_VERSION));
  EXPECT_TRUE(run.out.ends_with(kReply)) << run.out;

  if (!ktls_available()) {
    EXPECT_EQ(run.box["kTLS TX"], kTxInactive);
    EXPECT_EQ(run.box["kTLS RX"], kRxInactive);
    EXPECT_EQ(run.box["test server"], "kTLS TX inactive, RX inactive");
    EXPECT_EQ(run.box["kernel"], "no /proc/net/tls_stat: the tls module is not loaded");
    EXPECT_NE(run.out.find("\nkTLS is inactive in both directions. What to check:\n"),
              std::string::npos)
        << run.out;
    EXPECT_NE(run.out.find(kModuleHint), std::string::npos) << run.out;
  } else {
    bool rx = openssl_receives_tls13_with_ktls();
    EXPECT_EQ(run.box["kTLS TX"], kTxActive);
    EXPECT_EQ(run.box["kTLS RX"], rx ? kRxActive : kRxInactive);
    EXPECT_EQ(run.box["test server"],
              std::string("kTLS TX active, RX ") + (rx ? "active" : "inactive"));
    EXPECT_TRUE(run.box["kernel"].starts_with("tls module loaded; sessions now: TlsCurrTxSw 2, "))
        << run.box["kernel"];
    EXPECT_EQ(run.out.find(kModuleHint), std::string::npos) << run.out;
  }
}

TEST(KtlsClient, Tls12WithChaCha20) {
  ClientRun run = run_client({"--tls", "1.2", "--cipher", "CHACHA20-POLY1305"});
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_EQ(run.box["TLS version"], "TLSv1.2");
  EXPECT_EQ(run.box["cipher"], "ECDHE-ECDSA-CHACHA20-POLY1305");
  EXPECT_TRUE(run.out.ends_with(kReply)) << run.out;
  if (!ktls_available()) {
    EXPECT_EQ(run.box["kTLS TX"], kTxInactive);
    EXPECT_EQ(run.box["kTLS RX"], kRxInactive);
    EXPECT_NE(run.out.find(kModuleHint), std::string::npos) << run.out;
  } else {
    EXPECT_EQ(run.box["kTLS TX"], kTxActive);
    EXPECT_EQ(run.box["kTLS RX"], kRxActive);
    EXPECT_EQ(run.box["test server"], "kTLS TX active, RX active");
    EXPECT_EQ(run.out.find("What to check"), std::string::npos) << run.out;
  }
}

// A cipher the kernel does not take is named in the hints, with or without
// the module.
TEST(KtlsClient, CipherKtlsCannotTakeIsNamed) {
  ClientRun run = run_client({"--tls", "1.2", "--cipher", "ECDHE-ECDSA-AES128-CCM8"});
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_EQ(run.box["cipher"], "ECDHE-ECDSA-AES128-CCM8");
  EXPECT_EQ(run.box["kTLS TX"], kTxInactive);
  EXPECT_EQ(run.box["kTLS RX"], kRxInactive);
  EXPECT_NE(run.out.find("  - The cipher, ECDHE-ECDSA-AES128-CCM8, is not one OpenSSL hands to "
                         "Linux kTLS. Try\n"
                         "    --cipher AES128-GCM, AES256-GCM or CHACHA20-POLY1305 (ChaCha20 "
                         "from Linux 5.11).\n"),
            std::string::npos)
      << run.out;
}

TEST(KtlsClient, FailuresAreOneLine) {
  ClientRun refused = run_client({"127.0.0.1:1"});
  EXPECT_EQ(refused.status, 1);
  EXPECT_EQ(refused.err, "ktls_client: cannot connect to 127.0.0.1:1: Connection refused\n");
  EXPECT_EQ(refused.out, "");

  ClientRun cipher = run_client({"--cipher", "BOGUS"});
  EXPECT_EQ(cipher.status, 2);
  EXPECT_EQ(cipher.err,
            "ktls_client: --cipher BOGUS: OpenSSL knows no TLS 1.2 cipher BOGUS (short names: "
            "AES128-GCM, AES256-GCM, CHACHA20-POLY1305)\n");

  ClientRun version = run_client({"--tls", "1.1"});
  EXPECT_EQ(version.status, 2);
  EXPECT_EQ(version.err, "ktls_client: --tls is 1.2 or 1.3 (--help explains)\n");
}

TEST(KtlsClient, HelpTeaches) {
  ClientRun run = run_client({"--help"});
  ASSERT_EQ(run.status, 0);
  EXPECT_TRUE(run.out.starts_with("usage: ktls_client [HOST[:PORT]]")) << run.out;
  for (const char* topic : {"What kTLS is:", "sudo modprobe tls", "/proc/net/tls_stat",
                            "sudo build/tlstap -c ktls_client", "Exit status:"}) {
    EXPECT_NE(run.out.find(topic), std::string::npos) << topic;
  }
}

}  // namespace
}  // namespace tlstap
