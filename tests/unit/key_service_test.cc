// keys::KeyService without probes: secrets records as the pipeline hands
// them on, to the key log lines the engine gives its sinks.
#include "keys/key_service.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>

namespace tlstap::keys {
namespace {

capture::LoggedSecretEvent Logged(std::string_view label, uint8_t random_byte) {
  capture::LoggedSecretEvent e;
  e.pid = getpid();
  e.comm = "tls_go";
  e.lib = capture::Lib::kGo;
  e.label = std::string(label);
  e.label_len = static_cast<uint32_t>(label.size());
  e.random_len = 32;
  e.client_random.fill(random_byte);
  e.secret_len = 32;
  e.secret.fill(0x5a);
  return e;
}

// Both ends of a connection in one process log each line: it is given once,
// and the session is counted at its first line.
TEST(KeyServiceTest, EachGoLineIsGivenOnceAndItsSessionCountedOnce) {
  KeyService keys("/nonexistent/tlstap-keyprobe", false);
  auto first = keys.lines_of(Logged("CLIENT_HANDSHAKE_TRAFFIC_SECRET", 1));
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].label, SecretLabel::kClientHandshakeTrafficSecret);
  EXPECT_EQ(format_key_log_line(first[0]).substr(0, 32), "CLIENT_HANDSHAKE_TRAFFIC_SECRET ");
  EXPECT_TRUE(keys.lines_of(Logged("CLIENT_HANDSHAKE_TRAFFIC_SECRET", 1)).empty());
  EXPECT_EQ(keys.lines_of(Logged("SERVER_TRAFFIC_SECRET_0", 1)).size(), 1u);
  EXPECT_EQ(keys.lines(), 2u);
  EXPECT_EQ(keys.sessions(), 1u);
  EXPECT_EQ(keys.unusable(), 0u);
}

// A label the probe could not read (its page not touched yet) is read from
// the process at its address; from a process that is gone, the line is
// counted unusable, not guessed.
TEST(KeyServiceTest, LabelTheProbeCouldNotReadIsReadFromTheProcess) {
  static const char kLabel[] = "CLIENT_TRAFFIC_SECRET_0";
  KeyService keys("/nonexistent/tlstap-keyprobe", false);
  auto e = Logged("", 2);
  e.label_len = std::strlen(kLabel);
  e.label_addr = reinterpret_cast<uintptr_t>(kLabel);
  auto lines = keys.lines_of(e);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].label, SecretLabel::kClientTrafficSecret0);

  pid_t gone = fork();
  if (gone == 0) _exit(0);
  ASSERT_GT(gone, 0);
  waitpid(gone, nullptr, 0);
  e.pid = gone;
  e.client_random.fill(3);
  EXPECT_TRUE(keys.lines_of(e).empty());
  EXPECT_EQ(keys.unusable(), 1u);
  EXPECT_EQ(keys.lines(), 1u);
}

TEST(KeyServiceTest, UnknownLabelIsUnusable) {
  KeyService keys("/nonexistent/tlstap-keyprobe", false);
  EXPECT_TRUE(keys.lines_of(Logged("CLIENT_EARLY_TRAFFIC_SECRET", 4)).empty());
  EXPECT_EQ(keys.unusable(), 1u);
  EXPECT_EQ(keys.lines(), 0u);
}

// An OpenSSL TLS 1.2 record: one CLIENT_RANDOM line, and the session
// counted at every record (a library reports each session once).
TEST(KeyServiceTest, Tls12RecordGivesItsClientRandomLineOnce) {
  KeyService keys("/nonexistent/tlstap-keyprobe", false);
  capture::SecretsEvent e;
  e.pid = 1;
  e.version = 0x0303;
  e.client_random.fill(7);
  e.master_key.fill(9);
  auto lines = keys.lines_of(e);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].label, SecretLabel::kClientRandom);
  EXPECT_TRUE(keys.lines_of(e).empty()) << "the same line again";
  EXPECT_EQ(keys.sessions(), 2u);
  EXPECT_EQ(keys.lines(), 1u);
}

}  // namespace
}  // namespace tlstap::keys
