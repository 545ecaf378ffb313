// tlstap-keyprobe against the system's libssl.so.3: the offsets it finds
// (it checks them itself against fresh handshakes' key logs before printing
// them), their text format, the build-id cache, how a file it cannot handle
// is reported; and the TLS 1.3 derivation on RFC 8448's published values.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "keys/final_secrets.h"
#include "keys/hmac_openssl.h"
#include "keys/openssl_secrets.h"
#include "keys/ssl_offsets.h"

namespace tlstap::keys {
namespace {

constexpr char kSystemLibssl[] = "/usr/lib/x86_64-linux-gnu/libssl.so.3";
constexpr char kSystemLibgnutls[] = "/usr/lib/x86_64-linux-gnu/libgnutls.so.30";
constexpr char kAndroidBoringssl[] = "/usr/lib/x86_64-linux-gnu/android/libssl.so.0";

std::vector<uint8_t> Hex(std::string_view hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

TEST(KeyProbe, FindsTheSystemLibsslsOffsets) {
  auto found = find_ssl_offsets(TLSTAP_KEYPROBE, kSystemLibssl);
  ASSERT_TRUE(found) << found.error().message;
  const SslOffsets& o = *found;
  // Every field of the SSL object at its own place; the 64-byte TLS 1.3
  // arrays do not overlap.
  std::set<uint32_t> ssl_fields = {
      o.version,           o.client_random,          o.session,
      o.handshake_secret,  o.handshake_traffic_hash, o.client_finished_secret,
      o.client_app_secret, o.server_app_secret,      o.exporter_secret};
  EXPECT_EQ(ssl_fields.size(), 9u) << format_offsets(o);
  std::vector<uint32_t> arrays = {o.handshake_secret,       o.handshake_traffic_hash,
                                  o.client_finished_secret, o.client_app_secret,
                                  o.server_app_secret,      o.exporter_secret};
  std::sort(arrays.begin(), arrays.end());
  for (size_t i = 1; i < arrays.size(); ++i) EXPECT_GE(arrays[i] - arrays[i - 1], 64u);
  EXPECT_EQ(o.session % 8, 0u);
  // Cached by build id: the same answer without running the helper again.
  auto again = find_ssl_offsets("/nonexistent/tlstap-keyprobe", kSystemLibssl);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(*again, o);
}

TEST(KeyProbe, NamesWhatItCannotHandle) {
  auto missing = find_ssl_offsets(TLSTAP_KEYPROBE, "/nonexistent/libssl.so.3");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("cannot load it"), std::string::npos)
      << missing.error().message;
  // A library that is not OpenSSL (GnuTLS' has no TLS_method).
  auto gnutls = find_ssl_offsets(TLSTAP_KEYPROBE, "/usr/lib/x86_64-linux-gnu/libgnutls.so.30");
  ASSERT_FALSE(gnutls);
  EXPECT_NE(gnutls.error().message.find("it has no "), std::string::npos) << gnutls.error().message;
  auto no_helper =
      find_ssl_offsets("/nonexistent/tlstap-keyprobe", "/usr/lib/x86_64-linux-gnu/libz.so.1");
  ASSERT_FALSE(no_helper);
}

TEST(KeyProbe, BuildIdIsTheElfNote) {
  std::string id = read_build_id(kSystemLibssl);
  EXPECT_EQ(id.size(), 40u) << id;
  EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
  EXPECT_EQ(read_build_id("/nonexistent"), "");
}

TEST(KeyProbe, OffsetsTextRoundTrips) {
  SslOffsets o{1, 2, 8, 4, 5, 6, 7, 9, 10, 11};
  auto parsed = parse_offsets(format_offsets(o));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(*parsed, o);
  auto error = parse_offsets("error no place in its SSL objects holds the client random\n");
  ASSERT_FALSE(error);
  EXPECT_EQ(error.error().message, "no place in its SSL objects holds the client random");
  auto incomplete = parse_offsets("version 0\nclient_random 352\n");
  ASSERT_FALSE(incomplete);
  EXPECT_NE(incomplete.error().message.find("session"), std::string::npos);
}

// RFC 8448, 3. Simple 1-RTT Handshake: the client handshake traffic
// secret from the handshake secret and the ClientHello..ServerHello hash.
TEST(OpenSslSecrets, HkdfExpandLabelMatchesRfc8448) {
  auto hs = Hex("1dc826e93606aa6fdc0aadc12f741b01046aa6b99f691ed221a9f0ca043fbeac");
  auto hash = Hex("860c06edc07858ee8e78f0e7428c58edd6b43f2ca3e6e95f02ed063cf0e1cad8");
  auto secret = hkdf_expand_label(openssl_hmac(), 32, hs, "c hs traffic", hash, 32);
  EXPECT_EQ(secret, Hex("b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21"));
}

TEST(OpenSslSecrets, Tls13LinesOnlyWhenTheFinishedKeyChecksOut) {
  OpenSslSecrets s;
  s.version = kTls13;
  s.client_random.fill(0x11);
  s.handshake_secret.fill(0x22);
  s.handshake_traffic_hash.fill(0x33);
  s.client_app_secret.fill(0x44);
  s.server_app_secret.fill(0x55);
  s.exporter_secret.fill(0x66);
  HmacFn hmac = openssl_hmac();
  EXPECT_FALSE(openssl_key_log_lines(s, hmac));  // Finished key all zero: misread
  // A SHA-384 session: the Finished key of its derived client secret.
  auto client_hs =
      hkdf_expand_label(hmac, 48, std::span(s.handshake_secret).first(48), "c hs traffic",
                        std::span(s.handshake_traffic_hash).first(48), 48);
  auto finished = hkdf_expand_label(hmac, 48, client_hs, "finished", {}, 48);
  std::copy(finished.begin(), finished.end(), s.client_finished_secret.begin());
  auto lines = openssl_key_log_lines(s, hmac);
  ASSERT_TRUE(lines) << lines.error().message;
  ASSERT_EQ(lines->size(), 5u);
  EXPECT_EQ((*lines)[0].label, SecretLabel::kClientHandshakeTrafficSecret);
  EXPECT_EQ((*lines)[0].secret, client_hs);
  EXPECT_EQ((*lines)[2].secret, std::vector<uint8_t>(48, 0x44));
}

TEST(OpenSslSecrets, Tls12NeedsAMasterSecret) {
  OpenSslSecrets s;
  s.version = kTls12;
  s.client_random.fill(0x11);
  HmacFn hmac = openssl_hmac();
  EXPECT_FALSE(openssl_key_log_lines(s, hmac));
  s.master_key.fill(0x77);
  auto lines = openssl_key_log_lines(s, hmac);
  ASSERT_TRUE(lines) << lines.error().message;
  ASSERT_EQ(lines->size(), 1u);
  EXPECT_EQ(format_key_log_line((*lines)[0]),
            "CLIENT_RANDOM " + std::string(64, '1') + " " + std::string(96, '7') + "\n");
  s.client_random.fill(0);
  EXPECT_FALSE(openssl_key_log_lines(s, hmac));  // no handshake yet
}

// tlstap-keyprobe --gnutls on Debian's libgnutls.so.30 (3.7.9): it checked
// the offsets itself on fresh handshakes (TLS 1.2 and 1.3, AES-GCM, CBC and
// ChaCha20, SHA-256 and SHA-384) before printing them; here, that it found
// every TLS 1.3 secret (GnuTLS keeps them all until gnutls_deinit), each in
// a place of its own, and that the answer is cached by build id.
TEST(GnuTlsKeyProbe, FindsTheSystemLibgnutlsOffsets) {
  auto found = find_gnutls_offsets(TLSTAP_KEYPROBE, kSystemLibgnutls);
  ASSERT_TRUE(found) << found.error().message;
  const FinalOffsets& o = *found;
  EXPECT_NE(o.version_ptr, kNoOffset) << format_final_offsets(o);
  EXPECT_NE(o.hash_len_ptr, kNoOffset) << format_final_offsets(o);
  EXPECT_EQ(o.master_key_ptr, kNoOffset) << format_final_offsets(o);
  std::vector<uint32_t> arrays = {o.client_hs_secret, o.server_hs_secret, o.client_app_secret,
                                  o.server_app_secret, o.exporter_secret};
  for (uint32_t a : arrays) EXPECT_NE(a, kNoOffset) << format_final_offsets(o);
  std::sort(arrays.begin(), arrays.end());
  for (size_t i = 1; i < arrays.size(); ++i) EXPECT_GE(arrays[i] - arrays[i - 1], 64u);
  auto again = find_gnutls_offsets("/nonexistent/tlstap-keyprobe", kSystemLibgnutls);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(*again, o);
}

TEST(GnuTlsKeyProbe, NamesWhatItCannotHandle) {
  auto missing = find_gnutls_offsets(TLSTAP_KEYPROBE, "/nonexistent/libgnutls.so.30");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("cannot load it"), std::string::npos)
      << missing.error().message;
  // OpenSSL's libssl is not GnuTLS.
  auto openssl = find_gnutls_offsets(TLSTAP_KEYPROBE, kSystemLibssl);
  ASSERT_FALSE(openssl);
  EXPECT_EQ(openssl.error().message,
            "it has no gnutls_global_init (GnuTLS 3.6.13 or newer is needed)");
}

TEST(GnuTlsKeyProbe, OffsetsTextRoundTrips) {
  FinalOffsets o{.version_ptr = 16,
                 .version = 40,
                 .tls13_version = 5,
                 .client_random = 80,
                 .master_key_ptr = kNoOffset,
                 .master_key = 32,
                 .hash_len_ptr = 24,
                 .hash_len = 28,
                 .client_hs_secret = kNoOffset,
                 .server_hs_secret = kNoOffset,
                 .client_app_secret = 6164,
                 .server_app_secret = 6228,
                 .exporter_secret = 6292};
  const std::string text = format_final_offsets(o);
  EXPECT_NE(text.find("client_hs_secret none\n"), std::string::npos) << text;
  auto parsed = parse_final_offsets(text);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(*parsed, o);
  auto error = parse_final_offsets("error no place in its sessions holds the client random\n");
  ASSERT_FALSE(error);
  EXPECT_EQ(error.error().message, "no place in its sessions holds the client random");
  // The traffic secrets cannot be "none": without them nothing decrypts.
  std::string no_app = text;
  no_app.replace(no_app.find("client_app_secret 6164"), 22, "client_app_secret none");
  auto refused = parse_final_offsets(no_app);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message, "the helper found no client_app_secret");
  auto incomplete = parse_final_offsets("version_ptr 16\nversion 40\n");
  ASSERT_FALSE(incomplete);
  EXPECT_EQ(incomplete.error().message, "the helper did not report tls13_version");
  auto garbage = parse_final_offsets(text + "version 4096x\n");
  ASSERT_FALSE(garbage);
  EXPECT_EQ(garbage.error().message, "the helper reported a bad value: version 4096x");
}

// tlstap-keyprobe --boringssl on Debian's android libssl.so.0: checked by
// the helper on fresh TLS 1.2 (AES-GCM, SHA-384, ChaCha20) and TLS 1.3
// handshakes. The handshake traffic secrets are in the handshake state
// behind a pointer in s3 (BoringSSL frees it as the handshake ends: the
// helper found them from inside its key log callback, and checked them
// there), two SSL_MAX_MD_SIZE (48-byte) arrays apart at least; the rest is
// behind the SSL's s3 pointer, the side a bit in the SSL (what
// SSL_is_server reads), no hash length stored.
TEST(BoringSslKeyProbe, FindsTheAndroidLibsslsOffsets) {
  auto found = find_boringssl_offsets(TLSTAP_KEYPROBE, kAndroidBoringssl);
  ASSERT_TRUE(found) << found.error().message;
  const FinalOffsets& o = *found;
  EXPECT_NE(o.handshake_ptr, kNoOffset) << format_final_offsets(o);
  ASSERT_NE(o.client_hs_secret, kNoOffset) << format_final_offsets(o);
  ASSERT_NE(o.server_hs_secret, kNoOffset) << format_final_offsets(o);
  EXPECT_GE(std::max(o.client_hs_secret, o.server_hs_secret) -
                std::min(o.client_hs_secret, o.server_hs_secret),
            48u)
      << format_final_offsets(o);
  EXPECT_NE(o.secrets_ptr, kNoOffset) << format_final_offsets(o);
  EXPECT_NE(o.master_key_ptr, kNoOffset) << format_final_offsets(o);
  EXPECT_NE(o.exporter_secret, kNoOffset) << format_final_offsets(o);
  EXPECT_EQ(o.version_bytes, 2u);
  EXPECT_EQ(o.hash_len_bytes, 0u);
  EXPECT_EQ(o.tls13_version, 0x0304u);
  EXPECT_NE(o.role_mask, 0u);
  EXPECT_EQ(o.role_mask & (o.role_mask - 1), 0u) << "one bit";
  auto again = find_boringssl_offsets("/nonexistent/tlstap-keyprobe", kAndroidBoringssl);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(*again, o);
  auto gnutls = find_boringssl_offsets(TLSTAP_KEYPROBE, kSystemLibgnutls);
  ASSERT_FALSE(gnutls);
  EXPECT_EQ(gnutls.error().message, "it has no TLS_method (not BoringSSL)");
}

// No stored hash length (BoringSSL): 48 when the client traffic secret's
// field has a non-zero byte past 32, else 32.
TEST(FinalSecrets, HashLengthFromTheSecretWhenNotStored) {
  FinalSecrets s;
  s.tls13 = true;
  s.client_random.fill(0x11);
  s.hash_len = 0;
  std::fill_n(s.client_app_secret.begin(), 32, 0x44);
  std::fill_n(s.server_app_secret.begin(), 32, 0x55);
  auto lines = final_key_log_lines(s);
  ASSERT_TRUE(lines) << lines.error().message;
  ASSERT_EQ(lines->size(), 2u);
  EXPECT_EQ((*lines)[0].secret, std::vector<uint8_t>(32, 0x44));
  s.client_app_secret[47] = 0x01;
  std::fill_n(s.server_app_secret.begin(), 48, 0x55);
  lines = final_key_log_lines(s);
  ASSERT_TRUE(lines) << lines.error().message;
  ASSERT_EQ(lines->size(), 2u);
  EXPECT_EQ((*lines)[0].secret.size(), 48u);
  EXPECT_EQ((*lines)[1].secret, std::vector<uint8_t>(48, 0x55));
}

// BoringSSL's handshake record holds the two handshake traffic secrets
// alone: the hash length comes from the client's.
TEST(FinalSecrets, HashLengthFromTheHandshakeSecretWhenAlone) {
  FinalSecrets s;
  s.tls13 = true;
  s.client_random.fill(0x11);
  std::fill_n(s.client_hs_secret.begin(), 48, 0x22);
  std::fill_n(s.server_hs_secret.begin(), 48, 0x33);
  auto lines = final_key_log_lines(s);
  ASSERT_TRUE(lines) << lines.error().message;
  ASSERT_EQ(lines->size(), 2u);
  EXPECT_EQ((*lines)[0].label, SecretLabel::kClientHandshakeTrafficSecret);
  EXPECT_EQ((*lines)[0].secret, std::vector<uint8_t>(48, 0x22));
  EXPECT_EQ((*lines)[1].secret, std::vector<uint8_t>(48, 0x33));
  std::fill(s.client_hs_secret.begin() + 32, s.client_hs_secret.end(), 0);
  lines = final_key_log_lines(s);
  ASSERT_TRUE(lines) << lines.error().message;
  EXPECT_EQ((*lines)[0].secret, std::vector<uint8_t>(32, 0x22));
  EXPECT_EQ((*lines)[1].secret, std::vector<uint8_t>(32, 0x33));
}

TEST(FinalSecrets, Tls13LinesForTheSecretsHeld) {
  FinalSecrets s;
  s.tls13 = true;
  s.client_random.fill(0x11);
  s.hash_len = 32;
  s.client_hs_secret.fill(0x22);
  s.client_app_secret.fill(0x44);
  s.server_app_secret.fill(0x55);
  // server_hs_secret and exporter_secret all zeros: not held, no line.
  auto lines = final_key_log_lines(s);
  ASSERT_TRUE(lines) << lines.error().message;
  std::string text;
  for (const KeyLogLine& l : *lines) text += format_key_log_line(l);
  const std::string random(64, '1');
  EXPECT_EQ(text, "CLIENT_HANDSHAKE_TRAFFIC_SECRET " + random + " " + std::string(64, '2') +
                      "\nCLIENT_TRAFFIC_SECRET_0 " + random + " " + std::string(64, '4') +
                      "\nSERVER_TRAFFIC_SECRET_0 " + random + " " + std::string(64, '5') + "\n");
  s.hash_len = 48;  // SHA-384: 48 bytes of each field
  lines = final_key_log_lines(s);
  ASSERT_TRUE(lines) << lines.error().message;
  EXPECT_EQ((*lines)[0].secret, std::vector<uint8_t>(48, 0x22));
  s.hash_len = 64;  // no TLS 1.3 suite: misread
  lines = final_key_log_lines(s);
  ASSERT_FALSE(lines);
  EXPECT_EQ(lines.error().message, "TLS 1.3 hash length 64 (not SHA-256 or SHA-384)");
  FinalSecrets none;
  none.tls13 = true;
  none.client_random.fill(0x11);
  none.hash_len = 32;
  lines = final_key_log_lines(none);
  ASSERT_FALSE(lines);
  EXPECT_EQ(lines.error().message, "no TLS 1.3 secret set yet");
}

TEST(FinalSecrets, Tls12NeedsAMasterSecretAndARandom) {
  FinalSecrets s;
  s.client_random.fill(0x11);
  EXPECT_FALSE(final_key_log_lines(s));
  s.master_key.fill(0x77);
  auto lines = final_key_log_lines(s);
  ASSERT_TRUE(lines) << lines.error().message;
  ASSERT_EQ(lines->size(), 1u);
  EXPECT_EQ(format_key_log_line((*lines)[0]),
            "CLIENT_RANDOM " + std::string(64, '1') + " " + std::string(96, '7') + "\n");
  s.client_random.fill(0);
  lines = final_key_log_lines(s);
  ASSERT_FALSE(lines);
  EXPECT_EQ(lines.error().message, "no client random yet");
}

}  // namespace
}  // namespace tlstap::keys
