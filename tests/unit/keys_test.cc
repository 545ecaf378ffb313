// NSS key log lines, the dedup set and the key log file (0600, no symlinks,
// appended, one line per secret).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "keys/key_log.h"
#include "keys/key_log_file.h"
#include "keys/key_log_set.h"

namespace tlstap::keys {
namespace {

std::vector<uint8_t> Bytes(size_t n, uint8_t first) {
  std::vector<uint8_t> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(first + i);
  return out;
}

KeyLogLine Line(SecretLabel label, size_t secret_size, uint8_t seed = 0) {
  Result<KeyLogLine> line = make_key_log_line(label, Bytes(32, seed), Bytes(secret_size, 0xa0));
  EXPECT_TRUE(line.has_value()) << line.error().message;
  return *line;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// What KeyLogFile::write did, or its error, in one printable word or line.
std::string Outcome(const Result<bool>& wrote) {
  if (!wrote) return wrote.error().message;
  return *wrote ? "written" : "duplicate";
}

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "tlstap-keys-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

TEST(KeyLogLine, FormatsEveryLabelLowercaseHex) {
  const std::string random = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
  const std::string secret32 = "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf";
  const std::string secret48 = secret32 + "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf";
  EXPECT_EQ(format_key_log_line(Line(SecretLabel::kClientRandom, 48)),
            "CLIENT_RANDOM " + random + " " + secret48 + "\n");
  EXPECT_EQ(format_key_log_line(Line(SecretLabel::kClientHandshakeTrafficSecret, 32)),
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET " + random + " " + secret32 + "\n");
  EXPECT_EQ(format_key_log_line(Line(SecretLabel::kServerHandshakeTrafficSecret, 48)),
            "SERVER_HANDSHAKE_TRAFFIC_SECRET " + random + " " + secret48 + "\n");
  EXPECT_EQ(format_key_log_line(Line(SecretLabel::kClientTrafficSecret0, 32)),
            "CLIENT_TRAFFIC_SECRET_0 " + random + " " + secret32 + "\n");
  EXPECT_EQ(format_key_log_line(Line(SecretLabel::kServerTrafficSecret0, 32)),
            "SERVER_TRAFFIC_SECRET_0 " + random + " " + secret32 + "\n");
  EXPECT_EQ(format_key_log_line(Line(SecretLabel::kExporterSecret, 32)),
            "EXPORTER_SECRET " + random + " " + secret32 + "\n");
}

TEST(KeyLogLine, RefusesSizesNoLibraryProduces) {
  EXPECT_FALSE(make_key_log_line(SecretLabel::kClientRandom, Bytes(32, 0), Bytes(32, 0)));
  EXPECT_FALSE(make_key_log_line(SecretLabel::kClientTrafficSecret0, Bytes(32, 0), Bytes(47, 0)));
  Result<KeyLogLine> short_random =
      make_key_log_line(SecretLabel::kExporterSecret, Bytes(28, 0), Bytes(32, 0));
  ASSERT_FALSE(short_random);
  EXPECT_EQ(short_random.error().message,
            "EXPORTER_SECRET: client random of 28 bytes (a ClientHello's is 32)");
}

TEST(KeyLogLine, ParseIsFormatsInverse) {
  for (SecretLabel label :
       {SecretLabel::kClientRandom, SecretLabel::kClientHandshakeTrafficSecret,
        SecretLabel::kServerHandshakeTrafficSecret, SecretLabel::kClientTrafficSecret0,
        SecretLabel::kServerTrafficSecret0, SecretLabel::kExporterSecret}) {
    KeyLogLine line = Line(label, 48, 7);
    Result<KeyLogLine> parsed = parse_key_log_line(format_key_log_line(line));
    ASSERT_TRUE(parsed) << parsed.error().message;
    EXPECT_EQ(*parsed, line);
  }
  // Libraries' callbacks hand lines without the newline, sometimes uppercase.
  Result<KeyLogLine> upper = parse_key_log_line("CLIENT_TRAFFIC_SECRET_0 " + std::string(64, 'A') +
                                                " " + std::string(64, 'F'));
  ASSERT_TRUE(upper) << upper.error().message;
  EXPECT_EQ(upper->client_random[0], 0xaa);
  EXPECT_EQ(format_key_log_line(*upper),
            "CLIENT_TRAFFIC_SECRET_0 " + std::string(64, 'a') + " " + std::string(64, 'f') + "\n");
}

TEST(KeyLogLine, ParseRejectsWhatIsNotALine) {
  EXPECT_FALSE(parse_key_log_line("# a comment"));
  EXPECT_FALSE(parse_key_log_line("RSA " + std::string(16, 'a') + " " + std::string(96, 'b')));
  EXPECT_FALSE(
      parse_key_log_line("CLIENT_RANDOM " + std::string(64, 'g') + " " + std::string(96, 'b')));
  EXPECT_FALSE(
      parse_key_log_line("CLIENT_RANDOM " + std::string(64, 'a') + " " + std::string(95, 'b')));
  EXPECT_FALSE(
      parse_key_log_line("CLIENT_RANDOM " + std::string(64, 'a') + "  " + std::string(96, 'b')));
}

// Go's writeKeyLog arguments as the probe reads them: fields of 32, 32 and
// 64 bytes with the lengths Go passed.
TEST(LoggedKeyLogLine, TakesTheLengthsTheLibraryPassed) {
  const std::vector<uint8_t> random = Bytes(32, 0), secret = Bytes(64, 0xa0);
  Result<KeyLogLine> tls13 =
      logged_key_log_line("SERVER_TRAFFIC_SECRET_0", 23, random, 32, secret, 48);
  ASSERT_TRUE(tls13) << tls13.error().message;
  EXPECT_EQ(*tls13, Line(SecretLabel::kServerTrafficSecret0, 48));
  Result<KeyLogLine> tls12 = logged_key_log_line("CLIENT_RANDOM", 13, random, 32, secret, 48);
  ASSERT_TRUE(tls12) << tls12.error().message;
  EXPECT_EQ(*tls12, Line(SecretLabel::kClientRandom, 48));
  Result<KeyLogLine> sha256 =
      logged_key_log_line("CLIENT_HANDSHAKE_TRAFFIC_SECRET", 31, random, 32, secret, 32);
  ASSERT_TRUE(sha256) << sha256.error().message;
  EXPECT_EQ(sha256->secret.size(), 32u);
}

TEST(LoggedKeyLogLine, RefusesWhatDoesNotFitItsField) {
  const std::vector<uint8_t> random = Bytes(32, 0), secret = Bytes(64, 0xa0);
  const std::string label32(32, 'X');
  auto message = [](const Result<KeyLogLine>& r) { return r ? "accepted" : r.error().message; };
  EXPECT_EQ(message(logged_key_log_line(label32, 40, random, 32, secret, 32)),
            "key log label of 40 bytes (none is that long)");
  EXPECT_EQ(message(logged_key_log_line("RSA", 3, random, 32, secret, 32)),
            "unknown key log label: RSA");
  EXPECT_EQ(message(logged_key_log_line("CLIENT_RANDOM", 13, random, 28, secret, 48)),
            "CLIENT_RANDOM: client random of 28 bytes (a ClientHello's is 32)");
  EXPECT_EQ(message(logged_key_log_line("CLIENT_TRAFFIC_SECRET_0", 23, random, 32, secret, 80)),
            "CLIENT_TRAFFIC_SECRET_0: secret of 80 bytes (at most 64 are read)");
  EXPECT_EQ(message(logged_key_log_line("CLIENT_TRAFFIC_SECRET_0", 23, random, 32, secret, 64)),
            "CLIENT_TRAFFIC_SECRET_0: secret of 64 bytes (expected 32 or 48)");
}

TEST(KeyLogSet, KeepsEachLineOnce) {
  KeyLogSet set;
  KeyLogLine a = Line(SecretLabel::kClientTrafficSecret0, 32, 1);
  KeyLogLine b = Line(SecretLabel::kServerTrafficSecret0, 32, 1);
  EXPECT_TRUE(set.insert(a));
  EXPECT_FALSE(set.insert(a));
  EXPECT_TRUE(set.insert(b));
  // Same label and random, another secret: kept, a misread must not hide.
  KeyLogLine a_other = a;
  a_other.secret[0] ^= 1;
  EXPECT_TRUE(set.insert(a_other));
  EXPECT_EQ(set.size(), 3u);
}

TEST(KeyLogFile, Creates0600AndWritesEachLineOnce) {
  TempDir dir;
  mode_t old_umask = umask(0);  // the mode must not depend on the caller's umask
  Result<std::unique_ptr<KeyLogFile>> file = KeyLogFile::open(dir / "keys.log");
  umask(old_umask);
  ASSERT_TRUE(file) << file.error().message;
  struct stat st {};
  ASSERT_EQ(stat((dir / "keys.log").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);

  KeyLogLine a = Line(SecretLabel::kClientHandshakeTrafficSecret, 32, 1);
  KeyLogLine b = Line(SecretLabel::kServerHandshakeTrafficSecret, 32, 1);
  EXPECT_EQ(Outcome((*file)->write(a)), "written");
  // Visible at once, with no flush or close: each line is its own write(2).
  EXPECT_EQ(ReadFile(dir / "keys.log"), format_key_log_line(a));
  EXPECT_EQ(Outcome((*file)->write(a)), "duplicate");
  EXPECT_EQ(Outcome((*file)->write(b)), "written");
  EXPECT_EQ(ReadFile(dir / "keys.log"), format_key_log_line(a) + format_key_log_line(b));
  EXPECT_EQ((*file)->lines_written(), 2u);
}

TEST(KeyLogFile, AppendsToAnExistingFileAndTightensItsMode) {
  TempDir dir;
  std::filesystem::path path = dir / "keys.log";
  std::ofstream(path) << "# earlier run\n";
  chmod(path.c_str(), 0644);
  Result<std::unique_ptr<KeyLogFile>> file = KeyLogFile::open(path);
  ASSERT_TRUE(file) << file.error().message;
  KeyLogLine a = Line(SecretLabel::kExporterSecret, 48, 3);
  ASSERT_TRUE((*file)->write(a));
  EXPECT_EQ(ReadFile(path), "# earlier run\n" + format_key_log_line(a));
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST(KeyLogFile, RefusesASymbolicLinkInOneLine) {
  TempDir dir;
  std::ofstream(dir / "target") << "precious\n";
  std::filesystem::create_symlink(dir / "target", dir / "keys.log");
  Result<std::unique_ptr<KeyLogFile>> file = KeyLogFile::open(dir / "keys.log");
  ASSERT_FALSE(file);
  EXPECT_EQ(file.error().message, "cannot write " + (dir / "keys.log").string() +
                                      ": it is a symbolic link; refusing to follow it");
  EXPECT_EQ(file.error().code, ExitCode::kUsage);
  EXPECT_EQ(ReadFile(dir / "target"), "precious\n");
}

}  // namespace
}  // namespace tlstap::keys
