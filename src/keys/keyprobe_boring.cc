// tlstap-keyprobe --boringssl LIBSSL: where does this BoringSSL build keep a
// session's secrets? Loads that very file, runs TLS 1.2 and TLS 1.3
// handshakes in memory (memory BIOs, the helper's throwaway certificate)
// with SSL_CTX_set_keylog_callback as the oracle, sends a message each way,
// and looks for the logged values where tlstap's probes will read them:
// the SSL object and the state it points to (ssl->s3).
//
// BoringSSL frees the handshake state when the handshake ends: the TLS 1.3
// handshake traffic secrets are gone by the first call that moves data.
// They are located while it lives, from inside the key log callback (which
// runs inside SSL_do_handshake): the state's pointer in s3 and the two
// secrets in it, which tlstap reads at the handshake's socket writes.
// What stays, in s3, is the connection's own write and read traffic
// secrets (the client's CLIENT_TRAFFIC_SECRET_0 is its write secret, the
// server's its read secret), each with its length in a byte, and the
// exporter secret; the TLS 1.2 master key is in the established session.
// So the side (ssl->server, a bit) is located too, as the byte and mask
// that are set in every server's SSL and clear in every client's.
//
// Prints FinalOffsets' "name offset" lines, or "error why"; checked on fresh
// handshakes first (TLS 1.2 AES-GCM, SHA-384 and ChaCha20 suites; TLS 1.3
// with the suite the build picks: BoringSSL lets no program choose).
#include <dlfcn.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "keys/final_secrets.h"
#include "keys/key_log.h"
#include "keys/keyprobe_common.h"

namespace tlstap::keys {
namespace {

#include "keys/keyprobe_cert.inc"

constexpr uint16_t kTls12 = 0x0303;
constexpr uint16_t kTls13 = 0x0304;
constexpr int kEvpPkeyEc = 408;  // EVP_PKEY_EC

struct Api {
  const void* (*TLS_method)();
  void* (*SSL_CTX_new)(const void*);
  void (*SSL_CTX_free)(void*);
  int (*SSL_CTX_use_certificate_ASN1)(void*, size_t, const uint8_t*);
  int (*SSL_CTX_use_PrivateKey_ASN1)(int, void*, const uint8_t*, size_t);
  void (*SSL_CTX_set_keylog_callback)(void*, void (*)(const void*, const char*));
  int (*SSL_CTX_set_min_proto_version)(void*, uint16_t);
  int (*SSL_CTX_set_max_proto_version)(void*, uint16_t);
  int (*SSL_CTX_set_strict_cipher_list)(void*, const char*);
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
};

Api load(const char* path) {
  void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) die(std::string("cannot load it: ") + dlerror());
  Api api{};
  auto get = [h](auto* fn, const char* name) {
    *fn = reinterpret_cast<std::remove_reference_t<decltype(*fn)>>(dlsym(h, name));
    if (!*fn) die(std::string("it has no ") + name + " (not BoringSSL)");
  };
#define TLSTAP_SYM(name) get(&api.name, #name)
  TLSTAP_SYM(TLS_method);
  TLSTAP_SYM(SSL_CTX_new);
  TLSTAP_SYM(SSL_CTX_free);
  TLSTAP_SYM(SSL_CTX_use_certificate_ASN1);
  TLSTAP_SYM(SSL_CTX_use_PrivateKey_ASN1);
  TLSTAP_SYM(SSL_CTX_set_keylog_callback);
  TLSTAP_SYM(SSL_CTX_set_min_proto_version);
  TLSTAP_SYM(SSL_CTX_set_max_proto_version);
  TLSTAP_SYM(SSL_CTX_set_strict_cipher_list);
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
#undef TLSTAP_SYM
  return api;
}

std::vector<std::string> g_logged;
// A TLS 1.3 handshake traffic secret as the callback is handed it: inside
// SSL_do_handshake, with the handshake state that holds it alive.
void on_handshake_secret(const void* ssl, const KeyLogLine& line);
void on_keylog(const void* ssl, const char* text) {
  g_logged.emplace_back(text);
  auto line = parse_key_log_line(text);
  if (line && (line->label == SecretLabel::kClientHandshakeTrafficSecret ||
               line->label == SecretLabel::kServerHandshakeTrafficSecret)) {
    on_handshake_secret(ssl, *line);
  }
}

struct Handshake {
  void* ctx[2] = {};
  void* ssl[2] = {};  // client, server
  std::vector<KeyLogLine> logged;
};

class Prober {
 public:
  explicit Prober(const Api& api) : api_(api) {}

  Handshake run(uint16_t version, const char* ciphers) {
    Handshake h;
    g_logged.clear();
    for (int side = 0; side < 2; ++side) {
      void* ctx = api_.SSL_CTX_new(api_.TLS_method());
      if (!ctx) die("SSL_CTX_new failed");
      h.ctx[side] = ctx;
      api_.SSL_CTX_set_min_proto_version(ctx, version);
      api_.SSL_CTX_set_max_proto_version(ctx, version);
      if (ciphers && !api_.SSL_CTX_set_strict_cipher_list(ctx, ciphers)) {
        die(std::string("no ") + ciphers);
      }
      api_.SSL_CTX_set_keylog_callback(ctx, on_keylog);
      if (side == 1 &&
          (api_.SSL_CTX_use_certificate_ASN1(ctx, sizeof(kCertDer), kCertDer) != 1 ||
           api_.SSL_CTX_use_PrivateKey_ASN1(kEvpPkeyEc, ctx, kKeyDer, sizeof(kKeyDer)) != 1)) {
        die("cannot load the helper's own certificate");
      }
      h.ssl[side] = api_.SSL_new(ctx);
      if (!h.ssl[side]) die("SSL_new failed");
    }
    handshake_in_memory(api_, h.ssl, [](int, const std::string&) {});
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

  const Api& api() const { return api_; }

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

// Readable ranges of this process.
struct Memory {
  std::vector<std::pair<uintptr_t, uintptr_t>> readable;
  static Memory of_self() {
    Memory m;
    FILE* f = fopen("/proc/self/maps", "r");
    if (!f) die("cannot read /proc/self/maps");
    unsigned long lo = 0, hi = 0;
    char perms[8] = {};
    char rest[4096];
    while (fscanf(f, "%lx-%lx %7s", &lo, &hi, perms) == 3) {
      if (perms[0] == 'r') m.readable.emplace_back(lo, hi);
      if (!fgets(rest, sizeof(rest), f)) break;
    }
    fclose(f);
    return m;
  }
  // The heap grows as handshakes run: a miss reads the maps again.
  bool can_read(uintptr_t at, size_t n) const {
    if (in_ranges(at, n)) return true;
    *const_cast<Memory*>(this) = of_self();
    return in_ranges(at, n);
  }
  bool in_ranges(uintptr_t at, size_t n) const {
    for (auto [lo, hi] : readable) {
      if (at >= lo && at + n <= hi) return true;
    }
    return false;
  }
};

// An object from OPENSSL_malloc, which keeps the requested size in the 8
// bytes before it; empty when p is not one (not readable, absurd size).
std::span<const uint8_t> boring_object(const void* p, const Memory& mem) {
  auto at = reinterpret_cast<uintptr_t>(p);
  if (!at || at % 8 || !mem.can_read(at - 8, 8)) return {};
  size_t n = 0;
  memcpy(&n, reinterpret_cast<const void*>(at - 8), 8);
  if (n == 0 || n > (1 << 20) || !mem.can_read(at, n)) return {};
  return {static_cast<const uint8_t*>(p), n};
}

const void* pointer_at(std::span<const uint8_t> bytes, uint32_t off) {
  if (off + 8 > bytes.size()) die("an offset lies outside the SSL object");
  const void* p = nullptr;
  memcpy(&p, bytes.data() + off, 8);
  return p;
}

// (pointer offset in ssl << 16 | offset in the pointee) where the
// OPENSSL_malloc object the pointer leads to holds needle.
std::vector<uint32_t> find_behind_pointers(std::span<const uint8_t> ssl,
                                           std::span<const uint8_t> needle, const Memory& mem) {
  std::vector<uint32_t> at;
  for (uint32_t p = 0; p + 8 <= ssl.size(); p += 8) {
    auto obj = boring_object(pointer_at(ssl, p), mem);
    for (uint32_t q : find_all(obj, needle, 1)) at.push_back(p << 16 | q);
  }
  return at;
}

// The byte and bit that are set in every server and clear in every client.
class RoleBit {
 public:
  // Bytes of pointers (to readable memory) are left out: a heap address
  // can differ that way by chance.
  void add(std::span<const uint8_t> client, std::span<const uint8_t> server, const Memory& mem) {
    add(client, server);
    for (auto obj : {client, server}) {
      for (size_t at = 0; at + 8 <= std::min(obj.size(), mask_.size()); at += 8) {
        uintptr_t v = 0;
        memcpy(&v, obj.data() + at, 8);
        if (v && mem.can_read(v, 1)) std::fill_n(mask_.begin() + at, 8, 0);
      }
    }
  }
  void add(std::span<const uint8_t> client, std::span<const uint8_t> server) {
    size_t n = std::min(client.size(), server.size());
    if (first_) {
      mask_.assign(n, 0xff);
      first_ = false;
    }
    mask_.resize(std::min(mask_.size(), n));
    for (size_t i = 0; i < mask_.size(); ++i) {
      mask_[i] &= static_cast<uint8_t>(~client[i] & server[i]);
    }
  }
  std::pair<uint32_t, uint32_t> pick() const {
    for (size_t i = 0; i < mask_.size(); ++i) {
      if (mask_[i]) return {static_cast<uint32_t>(i), mask_[i] & -mask_[i]};
    }
    die("no bit of its SSL objects tells a server from a client");
  }

 private:
  bool first_ = true;
  std::vector<uint8_t> mask_;
};

// The handshake state (ssl->s3->hs) is freed, and the handshake traffic
// secrets with it, before SSL_do_handshake returns: where they are is found
// in the key log callback, which BoringSSL calls for each of them as soon
// as it is in place. Every place two pointers away from the SSL that holds
// the secret: (offset in the SSL, offset in that object, offset in the next).
struct HandshakeFind {
  SecretLabel label;
  std::vector<std::array<uint32_t, 3>> at;
};
std::vector<HandshakeFind> g_handshake_finds;
// While verify() runs: the offsets whose reading of each handshake secret
// the callback checks, how many matched, and the first that did not.
const FinalOffsets* g_checking = nullptr;
int g_handshake_matched = 0;
std::string g_handshake_mismatch;

Memory& memory() {
  static Memory mem = Memory::of_self();
  return mem;
}

// Reads the handshake secrets as tlstap's probes will at the handshake's
// socket writes: the version in the SSL, the client random in s3, the
// secrets in the state s3 points to.
void check_handshake_read(const void* ssl, const KeyLogLine& logged, const Memory& mem) {
  const FinalOffsets& o = *g_checking;
  auto bytes = boring_object(ssl, mem);
  auto s3 = boring_object(pointer_at(bytes, o.secrets_ptr), mem);
  auto hs = boring_object(pointer_at(s3, o.handshake_ptr), mem);
  auto copy = [](std::span<const uint8_t> from, uint32_t off, uint8_t* out, size_t n) {
    if (off < from.size()) memcpy(out, from.data() + off, std::min(n, from.size() - off));
  };
  FinalSecrets s;
  uint16_t v = 0;
  copy(bytes, o.version, reinterpret_cast<uint8_t*>(&v), 2);
  s.tls13 = v == o.tls13_version;
  copy(s3, o.client_random, s.client_random.data(), 32);
  copy(hs, o.client_hs_secret, s.client_hs_secret.data(), kSslSecretField);
  copy(hs, o.server_hs_secret, s.server_hs_secret.data(), kSslSecretField);
  auto lines = final_key_log_lines(s);
  bool found = false;
  if (lines) {
    for (const KeyLogLine& l : *lines) found |= l == logged;
  }
  if (found) {
    ++g_handshake_matched;
  } else if (g_handshake_mismatch.empty()) {
    g_handshake_mismatch =
        std::string(label_name(logged.label)) + " read through the offsets " +
        (lines ? "differs from its key log" : "is unreadable: " + lines.error().message);
  }
}

void on_handshake_secret(const void* ssl, const KeyLogLine& line) {
  const Memory& mem = memory();
  if (g_checking) {
    if (g_checking->handshake_ptr != kNoOffset) check_handshake_read(ssl, line, mem);
    return;
  }
  HandshakeFind find{line.label, {}};
  auto bytes = boring_object(ssl, mem);
  for (uint32_t p = 0; p + 8 <= bytes.size(); p += 8) {
    auto first = boring_object(pointer_at(bytes, p), mem);
    for (uint32_t q = 0; q + 8 <= first.size(); q += 8) {
      for (uint32_t r : find_all(boring_object(pointer_at(first, q), mem), line.secret, 1)) {
        find.at.push_back({p, q, r});
      }
    }
  }
  g_handshake_finds.push_back(std::move(find));
}

// The handshake state's pointer in s3 and the two secrets' offsets in it,
// from what the callback found; o's are left kNoOffset when none holds.
void locate_handshake_secrets(uint32_t s3, FinalOffsets* o) {
  Candidates state("TLS 1.3 handshake state", "SSL objects' s3");
  for (const HandshakeFind& f : g_handshake_finds) {
    std::set<uint32_t> in_s3;
    for (auto [p, q, r] : f.at) {
      if (p == s3) in_s3.insert(q);
    }
    state.add({in_s3.begin(), in_s3.end()});
  }
  if (g_handshake_finds.empty() || state.empty()) return;
  const uint32_t hs = state.pick();
  Candidates client("client handshake traffic secret", "handshake states"),
      server("server handshake traffic secret", "handshake states");
  for (const HandshakeFind& f : g_handshake_finds) {
    std::set<uint32_t> offsets;
    for (auto [p, q, r] : f.at) {
      if (p == s3 && q == hs) offsets.insert(r);
    }
    (f.label == SecretLabel::kClientHandshakeTrafficSecret ? client : server)
        .add({offsets.begin(), offsets.end()});
  }
  if (client.empty() || server.empty()) return;
  o->handshake_ptr = hs;
  o->client_hs_secret = client.pick();
  o->server_hs_secret = server.pick();
}

constexpr const char* kTls12Sha384 = "ECDHE-ECDSA-AES256-GCM-SHA384";

FinalOffsets locate(Prober& p) {
  Memory mem = Memory::of_self();
  Candidates version("protocol version"), s3_random("client random (behind a pointer)"),
      write_secret("TLS 1.3 write traffic secret", "SSL objects' s3"),
      read_secret("TLS 1.3 read traffic secret", "SSL objects' s3"),
      exporter("TLS 1.3 exporter secret", "SSL objects' s3"),
      session_ptr("established session pointer", "SSL objects' s3"),
      master_key("TLS 1.2 master key", "sessions");
  RoleBit role;
  Handshake h12 = p.run(kTls12, kTls12Sha384);
  Handshake h13 = p.run(kTls13, nullptr);
  const KeyLogLine& cr12 = need(h12, SecretLabel::kClientRandom);
  const KeyLogLine& cts = need(h13, SecretLabel::kClientTrafficSecret0);
  const KeyLogLine& sts = need(h13, SecretLabel::kServerTrafficSecret0);
  const KeyLogLine* exp = line_of(h13, SecretLabel::kExporterSecret);
  // The side's bit, over more handshakes than the secrets need.
  for (int i = 0; i < 8; ++i) {
    Handshake h = p.run(i % 2 ? kTls13 : kTls12, i % 2 ? nullptr : kTls12Sha384);
    role.add(boring_object(h.ssl[0], mem), boring_object(h.ssl[1], mem), mem);
    p.free(h);
  }
  for (Handshake* h : {&h12, &h13}) {
    role.add(boring_object(h->ssl[0], mem), boring_object(h->ssl[1], mem), mem);
    for (int side = 0; side < 2; ++side) {
      auto bytes = boring_object(h->ssl[side], mem);
      if (bytes.empty()) die("its SSL objects do not come from OPENSSL_malloc");
      uint16_t v = h == &h12 ? kTls12 : kTls13;
      version.add(find_all(bytes, {reinterpret_cast<const uint8_t*>(&v), 2}, 2));
      s3_random.add(find_behind_pointers(bytes, (h == &h12 ? cr12 : cts).client_random, mem));
    }
  }
  uint32_t s3 = s3_random.pick() >> 16;
  for (int side = 0; side < 2; ++side) {
    auto ssl12 = boring_object(h12.ssl[side], mem);
    auto s3_12 = boring_object(pointer_at(ssl12, s3), mem);
    const void* sess = p.api().SSL_get_session(h12.ssl[side]);
    session_ptr.add(find_all(s3_12, {reinterpret_cast<const uint8_t*>(&sess), 8}, 8));
    master_key.add(find_all(boring_object(sess, mem), cr12.secret, 1));
    auto s3_13 = boring_object(pointer_at(boring_object(h13.ssl[side], mem), s3), mem);
    write_secret.add(find_all(s3_13, (side == 0 ? cts : sts).secret, 1));
    read_secret.add(find_all(s3_13, (side == 0 ? sts : cts).secret, 1));
    if (exp) exporter.add(find_all(s3_13, exp->secret, 1));
  }
  FinalOffsets o;
  o.version_ptr = kNoOffset;
  o.version = version.pick();
  o.version_bytes = 2;
  o.tls13_version = kTls13;
  o.secrets_ptr = s3;
  o.client_random = s3_random.pick() & 0xffff;
  o.master_key_ptr = session_ptr.pick();
  o.master_key = master_key.pick();
  o.hash_len_ptr = kNoOffset;
  o.hash_len = 0;
  o.hash_len_bytes = 0;  // from the secret itself: see final_secrets.h
  o.client_app_secret = write_secret.pick();
  o.server_app_secret = read_secret.pick();
  if (exp && !exporter.empty()) o.exporter_secret = exporter.pick();
  auto [role_at, role_mask] = role.pick();
  o.role = role_at;
  o.role_mask = role_mask;
  locate_handshake_secrets(s3, &o);
  p.free(h12);
  p.free(h13);
  return o;
}

// Reads one SSL through the offsets, as tlstap's probes will.
FinalSecrets read_through(const FinalOffsets& o, const void* ssl, const Memory& mem) {
  auto bytes = boring_object(ssl, mem);
  auto s3 = boring_object(pointer_at(bytes, o.secrets_ptr), mem);
  auto copy = [](std::span<const uint8_t> from, uint32_t off, uint8_t* out, size_t n) {
    if (off == kNoOffset) return;
    if (off + n > from.size()) die("an offset lies outside its object");
    memcpy(out, from.data() + off, n);
  };
  FinalSecrets s;
  uint16_t v = 0;
  copy(bytes, o.version, reinterpret_cast<uint8_t*>(&v), 2);
  s.tls13 = v == o.tls13_version;
  copy(s3, o.client_random, s.client_random.data(), 32);
  if (!s.tls13) {
    copy(boring_object(pointer_at(s3, o.master_key_ptr), mem), o.master_key, s.master_key.data(),
         48);
    return s;
  }
  bool server = o.role_mask && (bytes[o.role] & o.role_mask);
  copy(s3, server ? o.server_app_secret : o.client_app_secret, s.client_app_secret.data(),
       kSslSecretField);
  copy(s3, server ? o.client_app_secret : o.server_app_secret, s.server_app_secret.data(),
       kSslSecretField);
  copy(s3, o.exporter_secret, s.exporter_secret.data(), kSslSecretField);
  return s;
}

void verify(Prober& p, const FinalOffsets& o) {
  Memory mem = Memory::of_self();
  g_checking = &o;
  int tls13_handshakes = 0;
  struct Case {
    uint16_t version;
    const char* ciphers;
  };
  for (Case c : {Case{kTls12, "ECDHE-ECDSA-AES128-GCM-SHA256"}, Case{kTls12, kTls12Sha384},
                 Case{kTls12, "ECDHE-ECDSA-CHACHA20-POLY1305"}, Case{kTls13, nullptr}}) {
    Handshake h = p.run(c.version, c.ciphers);
    tls13_handshakes += c.version == kTls13;
    std::set<std::string> expected;
    for (const KeyLogLine& l : h.logged) {
      if (l.label == SecretLabel::kClientHandshakeTrafficSecret ||
          l.label == SecretLabel::kServerHandshakeTrafficSecret ||
          (l.label == SecretLabel::kExporterSecret && o.exporter_secret == kNoOffset)) {
        continue;  // gone with the handshake state (checked in the callback)
      }
      expected.insert(format_key_log_line(l));
    }
    for (int side = 0; side < 2; ++side) {
      auto lines = final_key_log_lines(read_through(o, h.ssl[side], mem));
      if (!lines) die("check failed: " + lines.error().message);
      std::set<std::string> read;
      for (const KeyLogLine& l : *lines) read.insert(format_key_log_line(l));
      if (read != expected) {
        if (getenv("TLSTAP_KEYPROBE_DEBUG")) {  // by hand: what differed (tlstap sets no env)
          fputs(format_final_offsets(o).c_str(), stderr);
          for (const auto& l : read) fprintf(stderr, "read %s", l.c_str());
          for (const auto& l : expected) fprintf(stderr, "logged %s", l.c_str());
        }
        die(std::string("check failed: the ") + (side ? "server" : "client") + "'s " +
            (c.version == kTls13 ? "TLS 1.3" : "TLS 1.2") +
            " secrets read through the offsets differ from its key log");
      }
    }
    p.free(h);
  }
  g_checking = nullptr;
  // Each side's two handshake secrets, in every TLS 1.3 handshake.
  if (o.handshake_ptr != kNoOffset && g_handshake_matched != 4 * tls13_handshakes) {
    die("check failed: " +
        (g_handshake_mismatch.empty()
             ? std::to_string(g_handshake_matched) + " of " + std::to_string(4 * tls13_handshakes) +
                   " TLS 1.3 handshake secrets seen"
             : g_handshake_mismatch));
  }
}

}  // namespace

int boringssl_probe_main(const char* path) {
  Api api = load(path);
  Prober prober(api);
  FinalOffsets offsets = locate(prober);
  verify(prober, offsets);
  fputs(format_final_offsets(offsets).c_str(), stdout);
  return 0;
}

}  // namespace tlstap::keys
