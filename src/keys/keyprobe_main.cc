// tlstap-keyprobe LIBSSL: where does this OpenSSL build keep a session's
// secrets? Loads that very file, runs TLS 1.2 and TLS 1.3 handshakes between
// a client and a server in memory (memory BIOs, a throwaway certificate),
// records what the library's own key log callback reports, and looks for
// those values in the SSL objects' memory. Prints "name offset" lines, or
// "error why" and exits 1.
//
// The offsets are then checked the way tlstap will use them: fresh
// handshakes (TLS 1.2, and TLS 1.3 with a SHA-256 suite where discovery
// used SHA-384) read through the offsets must give exactly the lines the
// library logged.
//
// tlstap runs this as a separate program, never linked to libcrypto
// itself, so the file under study brings its own libcrypto; it touches no
// other process.
#include <dlfcn.h>
#include <malloc.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "keys/key_log.h"
#include "keys/keyprobe_common.h"
#include "keys/openssl_secrets.h"
#include "keys/ssl_offsets.h"

namespace {

using namespace tlstap::keys;

#include "keys/keyprobe_cert.inc"

constexpr int kTls12Version = 0x0303;
constexpr int kTls13Version = 0x0304;
constexpr int kEvpPkeyEc = 408;               // EVP_PKEY_EC
constexpr int kCtrlSetMinProtoVersion = 123;  // SSL_CTRL_SET_MIN_PROTO_VERSION
constexpr int kCtrlSetMaxProtoVersion = 124;  // SSL_CTRL_SET_MAX_PROTO_VERSION
constexpr int kRecordHandshake = 22;

// The functions of libssl (and, through it, libcrypto) this helper calls.
struct Api {
  const void* (*TLS_method)();
  void* (*SSL_CTX_new)(const void*);
  void (*SSL_CTX_free)(void*);
  int (*SSL_CTX_use_certificate_ASN1)(void*, int, const unsigned char*);
  int (*SSL_CTX_use_PrivateKey_ASN1)(int, void*, const unsigned char*, long);
  void (*SSL_CTX_set_keylog_callback)(void*, void (*)(const void*, const char*));
  long (*SSL_CTX_ctrl)(void*, int, long, void*);
  int (*SSL_CTX_set_ciphersuites)(void*, const char*);
  void* (*SSL_new)(void*);
  void (*SSL_free)(void*);
  void (*SSL_set_bio)(void*, void*, void*);
  void (*SSL_set_connect_state)(void*);
  void (*SSL_set_accept_state)(void*);
  int (*SSL_do_handshake)(void*);
  int (*SSL_write)(void*, const void*, int);
  int (*SSL_read)(void*, void*, int);
  int (*SSL_version)(const void*);
  void* (*SSL_get_session)(const void*);
  const void* (*BIO_s_mem)();
  void* (*BIO_new)(const void*);
  int (*BIO_read)(void*, void*, int);
  int (*BIO_write)(void*, const void*, int);
  unsigned char* (*HMAC)(const void*, const void*, int, const unsigned char*, size_t,
                         unsigned char*, unsigned int*);
  const void* (*EVP_sha256)();
  const void* (*EVP_sha384)();
  int (*EVP_Digest)(const void*, size_t, unsigned char*, unsigned int*, const void*, void*);
};

Api load(const char* path) {
  void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) die(std::string("cannot load it: ") + dlerror());
  Api api{};
  auto get = [h](auto* fn, const char* name) {
    *fn = reinterpret_cast<std::remove_reference_t<decltype(*fn)>>(dlsym(h, name));
    if (!*fn) die(std::string("it has no ") + name + " (OpenSSL 1.1.1 or newer is needed)");
  };
#define TLSTAP_SYM(name) get(&api.name, #name)
  TLSTAP_SYM(TLS_method);
  TLSTAP_SYM(SSL_CTX_new);
  TLSTAP_SYM(SSL_CTX_free);
  TLSTAP_SYM(SSL_CTX_use_certificate_ASN1);
  TLSTAP_SYM(SSL_CTX_use_PrivateKey_ASN1);
  TLSTAP_SYM(SSL_CTX_set_keylog_callback);
  TLSTAP_SYM(SSL_CTX_ctrl);
  TLSTAP_SYM(SSL_CTX_set_ciphersuites);
  TLSTAP_SYM(SSL_new);
  TLSTAP_SYM(SSL_free);
  TLSTAP_SYM(SSL_set_bio);
  TLSTAP_SYM(SSL_set_connect_state);
  TLSTAP_SYM(SSL_set_accept_state);
  TLSTAP_SYM(SSL_do_handshake);
  TLSTAP_SYM(SSL_write);
  TLSTAP_SYM(SSL_read);
  TLSTAP_SYM(SSL_version);
  TLSTAP_SYM(SSL_get_session);
  TLSTAP_SYM(BIO_s_mem);
  TLSTAP_SYM(BIO_new);
  TLSTAP_SYM(BIO_read);
  TLSTAP_SYM(BIO_write);
  TLSTAP_SYM(HMAC);
  TLSTAP_SYM(EVP_sha256);
  TLSTAP_SYM(EVP_sha384);
  TLSTAP_SYM(EVP_Digest);
#undef TLSTAP_SYM
  return api;
}

std::vector<std::string> g_logged;  // what the key log callback reported
void on_keylog(const void*, const char* line) { g_logged.emplace_back(line); }

// One finished handshake: both ends still alive, what the library logged.
struct Handshake {
  void* ctx[2] = {};
  void* ssl[2] = {};  // client, server
  std::string first_flight[2];
  std::vector<KeyLogLine> logged;
};

// The first handshake message in a flight of TLS records.
std::string first_handshake_message(const std::string& flight) {
  if (flight.size() < 9 || flight[0] != kRecordHandshake) return "";
  size_t record_len = static_cast<uint8_t>(flight[3]) << 8 | static_cast<uint8_t>(flight[4]);
  std::string frag = flight.substr(5, record_len);
  if (frag.size() < 4) return "";
  size_t msg_len = static_cast<size_t>(static_cast<uint8_t>(frag[1])) << 16 |
                   static_cast<uint8_t>(frag[2]) << 8 | static_cast<uint8_t>(frag[3]);
  return frag.size() >= 4 + msg_len ? frag.substr(0, 4 + msg_len) : "";
}

class Prober {
 public:
  explicit Prober(const Api& api) : api_(api) {}

  HmacFn hmac() const {
    return [this](size_t len, std::span<const uint8_t> key, std::span<const uint8_t> data,
                  uint8_t* out) {
      unsigned int out_len = 0;
      const void* md = len == 48 ? api_.EVP_sha384() : api_.EVP_sha256();
      return api_.HMAC(md, key.data(), static_cast<int>(key.size()), data.data(), data.size(), out,
                       &out_len) != nullptr &&
             out_len == len;
    };
  }

  std::vector<uint8_t> sha384(const std::string& data) const {
    std::vector<uint8_t> md(48);
    unsigned int n = 0;
    if (!api_.EVP_Digest(data.data(), data.size(), md.data(), &n, api_.EVP_sha384(), nullptr) ||
        n != 48) {
      die("SHA-384 failed");
    }
    return md;
  }

  // A client-server handshake at version, then a message each way (so a
  // TLS 1.3 client has taken its session tickets).
  Handshake run(int version, const char* suites) {
    Handshake h;
    g_logged.clear();
    for (int side = 0; side < 2; ++side) {
      void* ctx = api_.SSL_CTX_new(api_.TLS_method());
      if (!ctx) die("SSL_CTX_new failed");
      h.ctx[side] = ctx;
      api_.SSL_CTX_ctrl(ctx, kCtrlSetMinProtoVersion, version, nullptr);
      api_.SSL_CTX_ctrl(ctx, kCtrlSetMaxProtoVersion, version, nullptr);
      if (suites && !api_.SSL_CTX_set_ciphersuites(ctx, suites)) die(std::string("no ") + suites);
      api_.SSL_CTX_set_keylog_callback(ctx, on_keylog);
      if (side == 1 &&
          (api_.SSL_CTX_use_certificate_ASN1(ctx, sizeof(kCertDer), kCertDer) != 1 ||
           api_.SSL_CTX_use_PrivateKey_ASN1(kEvpPkeyEc, ctx, kKeyDer, sizeof(kKeyDer)) != 1)) {
        die("cannot load the helper's own certificate");
      }
      h.ssl[side] = api_.SSL_new(ctx);
      if (!h.ssl[side]) die("SSL_new failed");
    }
    handshake_in_memory(api_, h.ssl, [&h](int side, const std::string& bytes) {
      if (h.first_flight[side].empty()) h.first_flight[side] = bytes;
    });
    std::set<std::string> unique(g_logged.begin(), g_logged.end());
    for (const std::string& text : unique) {
      auto line = parse_key_log_line(text);
      if (!line) die("its key log callback wrote a line tlstap cannot read: " + text);
      h.logged.push_back(*line);
    }
    return h;
  }

  void free(Handshake& h) {
    for (int side = 0; side < 2; ++side) {
      api_.SSL_free(h.ssl[side]);
      api_.SSL_CTX_free(h.ctx[side]);
    }
  }

  int version(void* ssl) const { return api_.SSL_version(ssl); }
  void* session(void* ssl) const { return api_.SSL_get_session(ssl); }

 private:
  const Api& api_;
};

const KeyLogLine* line_of(const Handshake& h, SecretLabel label) {
  for (const KeyLogLine& l : h.logged) {
    if (l.label == label) return &l;
  }
  return nullptr;
}

const KeyLogLine& need(const Handshake& h, SecretLabel label) {
  const KeyLogLine* l = line_of(h, label);
  if (!l) die(std::string("its key log callback never reported ") + std::string(label_name(label)));
  return *l;
}

SslOffsets locate(Prober& p) {
  Candidates version("protocol version"), client_random("client random"),
      session("SSL_SESSION pointer"), master_key("TLS 1.2 master secret"),
      handshake_secret("TLS 1.3 handshake secret"),
      handshake_hash("TLS 1.3 handshake transcript hash"), finished("TLS 1.3 client Finished key"),
      client_app("TLS 1.3 client traffic secret"), server_app("TLS 1.3 server traffic secret"),
      exporter("TLS 1.3 exporter secret");

  Handshake h12 = p.run(kTls12Version, nullptr);
  const KeyLogLine& cr12 = need(h12, SecretLabel::kClientRandom);
  for (void* ssl : h12.ssl) {
    auto bytes = object_bytes(ssl);
    int v = p.version(ssl);
    version.add(find_all(bytes, {reinterpret_cast<const uint8_t*>(&v), sizeof(v)}, 4));
    client_random.add(find_all(bytes, cr12.client_random, 1));
    void* sess = p.session(ssl);
    if (!sess) die("no session after a TLS 1.2 handshake");
    session.add(find_all(bytes, {reinterpret_cast<const uint8_t*>(&sess), sizeof(sess)}, 8));
    master_key.add(find_all(object_bytes(sess), cr12.secret, 1));
  }

  // SHA-384: 48 bytes to match, and the hash length that is not the default.
  Handshake h13 = p.run(kTls13Version, "TLS_AES_256_GCM_SHA384");
  const KeyLogLine& chts = need(h13, SecretLabel::kClientHandshakeTrafficSecret);
  std::vector<uint8_t> hash = p.sha384(first_handshake_message(h13.first_flight[0]) +
                                       first_handshake_message(h13.first_flight[1]));
  auto finished_key = hkdf_expand_label(p.hmac(), 48, chts.secret, "finished", {}, 48);
  for (void* ssl : h13.ssl) {
    auto bytes = object_bytes(ssl);
    int v = p.version(ssl);
    version.add(find_all(bytes, {reinterpret_cast<const uint8_t*>(&v), sizeof(v)}, 4));
    client_random.add(find_all(bytes, chts.client_random, 1));
    client_app.add(find_all(bytes, need(h13, SecretLabel::kClientTrafficSecret0).secret, 1));
    server_app.add(find_all(bytes, need(h13, SecretLabel::kServerTrafficSecret0).secret, 1));
    exporter.add(find_all(bytes, need(h13, SecretLabel::kExporterSecret).secret, 1));
    handshake_hash.add(find_all(bytes, hash, 1));
    finished.add(find_all(bytes, finished_key, 1));
    // The handshake secret is logged nowhere: the place whose bytes expand
    // to the logged client handshake traffic secret.
    std::vector<uint32_t> hs;
    for (size_t at = 0; at + 48 <= bytes.size(); ++at) {
      if (hkdf_expand_label(p.hmac(), 48, bytes.subspan(at, 48), "c hs traffic", hash, 48) ==
          chts.secret) {
        hs.push_back(at);
      }
    }
    handshake_secret.add(hs);
  }

  SslOffsets o;
  o.version = version.pick();
  o.client_random = client_random.pick();
  o.session = session.pick();
  o.master_key = master_key.pick();
  o.handshake_secret = handshake_secret.pick();
  o.handshake_traffic_hash = handshake_hash.pick();
  o.client_finished_secret = finished.pick();
  o.client_app_secret = client_app.pick();
  o.server_app_secret = server_app.pick();
  o.exporter_secret = exporter.pick();
  p.free(h12);
  p.free(h13);
  return o;
}

// Reads one SSL object through the offsets, as tlstap's probes will.
OpenSslSecrets read_through(const SslOffsets& o, const void* ssl) {
  auto bytes = object_bytes(ssl);
  auto at = [&](uint32_t off, size_t n) {
    if (off + n > bytes.size()) die("an offset lies outside the SSL object");
    return bytes.data() + off;
  };
  OpenSslSecrets s;
  memcpy(&s.version, at(o.version, 4), 4);
  memcpy(s.client_random.data(), at(o.client_random, 32), 32);
  const void* sess = nullptr;
  memcpy(&sess, at(o.session, sizeof(sess)), sizeof(sess));
  auto sess_bytes = object_bytes(sess);
  if (sess && o.master_key + 48 <= sess_bytes.size()) {
    memcpy(s.master_key.data(), sess_bytes.data() + o.master_key, 48);
  }
  memcpy(s.handshake_secret.data(), at(o.handshake_secret, 64), 64);
  memcpy(s.handshake_traffic_hash.data(), at(o.handshake_traffic_hash, 64), 64);
  memcpy(s.client_finished_secret.data(), at(o.client_finished_secret, 64), 64);
  memcpy(s.client_app_secret.data(), at(o.client_app_secret, 64), 64);
  memcpy(s.server_app_secret.data(), at(o.server_app_secret, 64), 64);
  memcpy(s.exporter_secret.data(), at(o.exporter_secret, 64), 64);
  return s;
}

void verify(Prober& p, const SslOffsets& o) {
  struct Case {
    int version;
    const char* suites;
  };
  for (Case c : {Case{kTls12Version, nullptr}, Case{kTls13Version, "TLS_AES_128_GCM_SHA256"},
                 Case{kTls13Version, "TLS_AES_256_GCM_SHA384"}}) {
    Handshake h = p.run(c.version, c.suites);
    std::set<std::string> logged;
    for (const KeyLogLine& l : h.logged) logged.insert(format_key_log_line(l));
    for (int side = 0; side < 2; ++side) {
      auto lines = openssl_key_log_lines(read_through(o, h.ssl[side]), p.hmac());
      if (!lines) die("check failed: " + lines.error().message);
      std::set<std::string> read;
      for (const KeyLogLine& l : *lines) read.insert(format_key_log_line(l));
      if (read != logged) {
        die(std::string("check failed: the ") + (side ? "server" : "client") + "'s " +
            (c.version == kTls13Version ? "TLS 1.3" : "TLS 1.2") +
            " secrets read through the offsets differ from its key log");
      }
    }
    p.free(h);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && strcmp(argv[1], "--gnutls") == 0)
    return tlstap::keys::gnutls_probe_main(argv[2]);
  if (argc == 3 && strcmp(argv[1], "--boringssl") == 0) {
    return tlstap::keys::boringssl_probe_main(argv[2]);
  }
  if (argc != 2) {
    fprintf(stderr, "usage: tlstap-keyprobe LIBSSL | --gnutls LIBGNUTLS | --boringssl LIBSSL\n");
    return 2;
  }
  Api api = load(argv[1]);
  Prober prober(api);
  SslOffsets offsets = locate(prober);
  verify(prober, offsets);
  fputs(format_offsets(offsets).c_str(), stdout);
  return 0;
}
