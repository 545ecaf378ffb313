// tlstap-keyprobe against the system's libssl.so.3: the offsets it finds
// (it checks them itself against fresh handshakes' key logs before printing
// them), their text format, the build-id cache, how a file it cannot handle
// is reported; and the TLS 1.3 derivation on RFC 8448's published values.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "keys/hmac_openssl.h"
#include "keys/openssl_secrets.h"
#include "keys/ssl_offsets.h"

namespace tlstap::keys {
namespace {

constexpr char kSystemLibssl[] = "/usr/lib/x86_64-linux-gnu/libssl.so.3";

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

}  // namespace
}  // namespace tlstap::keys
