// tlstap-keyprobe --gnutls LIBGNUTLS: where does this GnuTLS build keep a
// session's secrets? Loads that very file, runs TLS 1.2 and TLS 1.3
// handshakes between a client and a server session in memory (push/pull
// functions, the helper's throwaway certificate), records what the
// library's own key log function reports, and looks for those values in the
// sessions' memory after a message each way, where tlstap's probes will
// read them. Prints FinalOffsets' "name offset" lines, or "error why".
//
// The protocol version and the suite's hash length are not in the session
// itself: it points at the library's tables for them. They are found as a
// (pointer, field) pair whose value follows the handshakes' versions and
// hash lengths.
//
// The offsets are then checked on fresh handshakes with other ciphers
// (AES-GCM and ChaCha20; SHA-256 and SHA-384 suites): read through them,
// each side must give exactly the lines the library logged.
#include <dlfcn.h>

#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "keys/final_secrets.h"
#include "keys/key_log.h"
#include "keys/keyprobe_common.h"

namespace tlstap::keys {
namespace {

#include "keys/keyprobe_cert.inc"

constexpr unsigned kGnutlsServer = 1;
constexpr unsigned kGnutlsClient = 1 << 1;
constexpr int kCrdCertificate = 1;  // GNUTLS_CRD_CERTIFICATE
constexpr int kX509FmtDer = 0;      // GNUTLS_X509_FMT_DER
constexpr int kGnutlsEAgain = -28;  // GNUTLS_E_AGAIN

struct Datum {
  unsigned char* data;
  unsigned int size;
};

using Session = void*;
using PushFn = ssize_t (*)(void*, const void*, size_t);
using PullFn = ssize_t (*)(void*, void*, size_t);
using KeylogFn = int (*)(Session, const char*, const Datum*);

struct Api {
  int (*gnutls_global_init)();
  int (*gnutls_certificate_allocate_credentials)(void**);
  void (*gnutls_certificate_free_credentials)(void*);
  int (*gnutls_certificate_set_x509_key_mem2)(void*, const Datum*, const Datum*, int, const char*,
                                              unsigned);
  int (*gnutls_init)(Session*, unsigned);
  void (*gnutls_deinit)(Session);
  int (*gnutls_priority_set_direct)(Session, const char*, const char**);
  int (*gnutls_credentials_set)(Session, int, void*);
  void (*gnutls_transport_set_ptr)(Session, void*);
  void (*gnutls_transport_set_push_function)(Session, PushFn);
  void (*gnutls_transport_set_pull_function)(Session, PullFn);
  void (*gnutls_transport_set_errno)(Session, int);
  void (*gnutls_session_set_keylog_function)(Session, KeylogFn);
  void (*gnutls_session_get_random)(Session, Datum*, Datum*);
  int (*gnutls_handshake)(Session);
  ssize_t (*gnutls_record_send)(Session, const void*, size_t);
  ssize_t (*gnutls_record_recv)(Session, void*, size_t);
  int (*gnutls_protocol_get_version)(Session);
  const char* (*gnutls_strerror)(int);
  void* handle;
};

Api load(const char* path) {
  void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) die(std::string("cannot load it: ") + dlerror());
  Api api{};
  api.handle = h;
  auto get = [h](auto* fn, const char* name) {
    *fn = reinterpret_cast<std::remove_reference_t<decltype(*fn)>>(dlsym(h, name));
    if (!*fn) die(std::string("it has no ") + name + " (GnuTLS 3.6.13 or newer is needed)");
  };
#define TLSTAP_SYM(name) get(&api.name, #name)
  TLSTAP_SYM(gnutls_global_init);
  TLSTAP_SYM(gnutls_certificate_allocate_credentials);
  TLSTAP_SYM(gnutls_certificate_free_credentials);
  TLSTAP_SYM(gnutls_certificate_set_x509_key_mem2);
  TLSTAP_SYM(gnutls_init);
  TLSTAP_SYM(gnutls_deinit);
  TLSTAP_SYM(gnutls_priority_set_direct);
  TLSTAP_SYM(gnutls_credentials_set);
  TLSTAP_SYM(gnutls_transport_set_ptr);
  TLSTAP_SYM(gnutls_transport_set_push_function);
  TLSTAP_SYM(gnutls_transport_set_pull_function);
  TLSTAP_SYM(gnutls_transport_set_errno);
  TLSTAP_SYM(gnutls_session_set_keylog_function);
  TLSTAP_SYM(gnutls_session_get_random);
  TLSTAP_SYM(gnutls_handshake);
  TLSTAP_SYM(gnutls_record_send);
  TLSTAP_SYM(gnutls_record_recv);
  TLSTAP_SYM(gnutls_protocol_get_version);
  TLSTAP_SYM(gnutls_strerror);
#undef TLSTAP_SYM
  return api;
}

const Api* g_api = nullptr;
std::vector<KeyLogLine> g_logged;  // what the key log functions reported

int on_keylog(Session s, const char* label, const Datum* secret) {
  Datum client{}, server{};
  g_api->gnutls_session_get_random(s, &client, &server);
  auto parsed = parse_label(label);
  if (!parsed) return 0;  // early data secrets: none in these handshakes
  auto line = make_key_log_line(*parsed, {client.data, client.size}, {secret->data, secret->size});
  if (!line) die(std::string("its key log function reported a line tlstap cannot use: ") + label);
  if (std::find(g_logged.begin(), g_logged.end(), *line) == g_logged.end()) {
    g_logged.push_back(*line);
  }
  return 0;
}

// One direction of the in-memory wire.
struct Pipe {
  Session reader = nullptr;
  std::deque<uint8_t> bytes;
};
Pipe g_wire[2];  // [0]: client to server, [1]: server to client

ssize_t push(void* ptr, const void* data, size_t n) {
  auto* p = static_cast<Pipe*>(ptr);
  const auto* b = static_cast<const uint8_t*>(data);
  p->bytes.insert(p->bytes.end(), b, b + n);
  return static_cast<ssize_t>(n);
}

ssize_t pull(void* ptr, void* data, size_t n) {
  // The transport pointer is the pipe this session writes; it reads the other.
  Pipe* from = static_cast<Pipe*>(ptr) == &g_wire[0] ? &g_wire[1] : &g_wire[0];
  if (from->bytes.empty()) {
    g_api->gnutls_transport_set_errno(from->reader, EAGAIN);
    return -1;
  }
  size_t k = std::min(n, from->bytes.size());
  std::copy_n(from->bytes.begin(), k, static_cast<uint8_t*>(data));
  from->bytes.erase(from->bytes.begin(), from->bytes.begin() + static_cast<ptrdiff_t>(k));
  return static_cast<ssize_t>(k);
}

struct Handshake {
  Session s[2] = {};  // client, server
  int version = 0;    // gnutls_protocol_get_version
  unsigned hash_len = 0;
  std::vector<KeyLogLine> logged;
};

// What a handshake is asked to be.
struct Case {
  const char* name;      // for messages
  const char* priority;  // a GnuTLS priority string
  bool tls13;
  unsigned hash_len;  // the suite's hash: 32 or 48
};

constexpr const char* kBase = "NORMAL:-VERS-ALL:-CIPHER-ALL:-MAC-ALL:+AEAD:";

class Prober {
 public:
  explicit Prober(const Api& api) : api_(api) {
    g_api = &api;
    api_.gnutls_global_init();
    if (api_.gnutls_certificate_allocate_credentials(&cred_) != 0) die("no credentials");
    Datum cert{const_cast<unsigned char*>(kCertDer), sizeof(kCertDer)};
    Datum key{const_cast<unsigned char*>(kKeyDer), sizeof(kKeyDer)};
    int r = api_.gnutls_certificate_set_x509_key_mem2(cred_, &cert, &key, kX509FmtDer, nullptr, 0);
    if (r < 0)
      die(std::string("cannot load the helper's own certificate: ") + api_.gnutls_strerror(r));
  }

  Handshake run(const Case& c) {
    Handshake h;
    g_logged.clear();
    g_wire[0].bytes.clear();
    g_wire[1].bytes.clear();
    std::string priority = std::string(kBase) + c.priority;
    for (int side = 0; side < 2; ++side) {
      if (api_.gnutls_init(&h.s[side], side == 0 ? kGnutlsClient : kGnutlsServer) != 0) {
        die("gnutls_init failed");
      }
      const char* err = nullptr;
      if (api_.gnutls_priority_set_direct(h.s[side], priority.c_str(), &err) < 0) {
        die("it refuses the priority string " + priority + " at " + (err ? err : "?"));
      }
      api_.gnutls_credentials_set(h.s[side], kCrdCertificate, cred_);
      api_.gnutls_transport_set_ptr(h.s[side], &g_wire[side]);
      api_.gnutls_transport_set_push_function(h.s[side], push);
      api_.gnutls_transport_set_pull_function(h.s[side], pull);
      api_.gnutls_session_set_keylog_function(h.s[side], on_keylog);
    }
    g_wire[0].reader = h.s[1];
    g_wire[1].reader = h.s[0];
    bool done[2] = {false, false};
    for (int round = 0; round < 32 && !(done[0] && done[1]); ++round) {
      for (int side = 0; side < 2; ++side) {
        if (done[side]) continue;
        int r = api_.gnutls_handshake(h.s[side]);
        if (r == 0) {
          done[side] = true;
        } else if (r != kGnutlsEAgain && r != -52 /* GNUTLS_E_INTERRUPTED */) {
          die(std::string("the in-memory ") + c.name +
              " handshake failed: " + api_.gnutls_strerror(r));
        }
      }
    }
    if (!done[0] || !done[1]) die(std::string("the in-memory ") + c.name + " handshake hung");
    // A message each way: the state tlstap's probes see (a TLS 1.3 client
    // has taken the server's session tickets by then).
    char buf[64];
    for (int side = 0; side < 2; ++side) {
      if (api_.gnutls_record_send(h.s[side], "ping", 4) != 4) die("gnutls_record_send failed");
      ssize_t n;
      while ((n = api_.gnutls_record_recv(h.s[1 - side], buf, sizeof(buf))) == kGnutlsEAgain) {
      }
      if (n != 4) die("gnutls_record_recv failed");
    }
    h.version = api_.gnutls_protocol_get_version(h.s[0]);
    h.hash_len = c.hash_len;
    h.logged = g_logged;
    return h;
  }

  void free(Handshake& h) {
    for (Session s : h.s) api_.gnutls_deinit(s);
  }

 private:
  const Api& api_;
  void* cred_ = nullptr;
};

const KeyLogLine* line_of(const Handshake& h, SecretLabel label) {
  for (const KeyLogLine& l : h.logged) {
    if (l.label == label) return &l;
  }
  return nullptr;
}

const KeyLogLine& need(const Handshake& h, SecretLabel label, const char* name) {
  const KeyLogLine* l = line_of(h, label);
  if (!l) {
    die(std::string("its key log function never reported ") + std::string(label_name(label)) +
        " (" + name + ")");
  }
  return *l;
}

// The readable ranges of this process, and the library's own part of them.
struct Memory {
  std::vector<std::pair<uintptr_t, uintptr_t>> readable;

  static Memory of_self() {
    Memory m;
    std::ifstream maps("/proc/self/maps");
    std::string line;
    while (std::getline(maps, line)) {
      std::istringstream in(line);
      std::string range, perms;
      in >> range >> perms;
      auto dash = range.find('-');
      if (dash == std::string::npos || perms.empty() || perms[0] != 'r') continue;
      m.readable.emplace_back(std::stoull(range.substr(0, dash), nullptr, 16),
                              std::stoull(range.substr(dash + 1), nullptr, 16));
    }
    return m;
  }
  bool can_read(uintptr_t at, size_t n) const {
    for (auto [lo, hi] : readable) {
      if (at >= lo && at + n <= hi) return true;
    }
    return false;
  }
};

// (pointer offset in the session, field offset in what it points to)
// pairs, as one number, where the pointer leads into the library itself
// (its tables) and the unsigned int there is value.
std::vector<uint32_t> find_behind_pointer(std::span<const uint8_t> session, const Memory& mem,
                                          const void* lib_base, uint32_t value) {
  constexpr uint32_t kMaxField = 256;
  std::vector<uint32_t> at;
  for (uint32_t p = 0; p + 8 <= session.size(); p += 8) {
    uintptr_t target = 0;
    memcpy(&target, session.data() + p, 8);
    Dl_info info{};
    if (!target || !dladdr(reinterpret_cast<void*>(target), &info) || info.dli_fbase != lib_base) {
      continue;
    }
    for (uint32_t q = 0; q < kMaxField; q += 4) {
      if (!mem.can_read(target + q, 4)) break;
      uint32_t v = 0;
      memcpy(&v, reinterpret_cast<const void*>(target + q), 4);
      if (v == value) at.push_back(p << 16 | q);
    }
  }
  return at;
}

uint32_t read_u32_behind(std::span<const uint8_t> session, uint32_t ptr_off, uint32_t field,
                         const Memory& mem) {
  uintptr_t target = 0;
  if (ptr_off + 8 > session.size()) die("an offset lies outside the session");
  memcpy(&target, session.data() + ptr_off, 8);
  if (!mem.can_read(target + field, 4)) die("a pointer in the session leads nowhere readable");
  uint32_t v = 0;
  memcpy(&v, reinterpret_cast<const void*>(target + field), 4);
  return v;
}

constexpr Case kTls12Sha384{"TLS 1.2 AES-256-GCM-SHA384", "+VERS-TLS1.2:+AES-256-GCM", false, 48};
// A suite that TLS 1.0 had: its entry's minimum version (1) is not the
// session's, so the cipher suite pointer is not mistaken for the version's.
constexpr Case kTls12Cbc{"TLS 1.2 AES-128-CBC-SHA1", "+VERS-TLS1.2:+AES-128-CBC:+SHA1", false, 32};
constexpr Case kTls13Sha384{"TLS 1.3 AES-256-GCM-SHA384", "+VERS-TLS1.3:+AES-256-GCM", true, 48};
constexpr Case kTls13Sha256{"TLS 1.3 AES-128-GCM-SHA256", "+VERS-TLS1.3:+AES-128-GCM", true, 32};

FinalOffsets locate(Prober& p, const Api& api) {
  Memory mem = Memory::of_self();
  Dl_info self{};
  if (!dladdr(reinterpret_cast<void*>(api.gnutls_init), &self)) die("dladdr failed");
  const void* lib_base = self.dli_fbase;

  constexpr const char* kWhere = "sessions";
  Candidates version("protocol version (through a pointer)", kWhere),
      hash_len("TLS 1.3 hash length (through a pointer)", kWhere),
      client_random("client random", kWhere), master_key("TLS 1.2 master secret", kWhere),
      client_hs("TLS 1.3 client handshake traffic secret", kWhere),
      server_hs("TLS 1.3 server handshake traffic secret", kWhere),
      client_app("TLS 1.3 client traffic secret", kWhere),
      server_app("TLS 1.3 server traffic secret", kWhere),
      exporter("TLS 1.3 exporter secret", kWhere);

  Handshake h12 = p.run(kTls12Sha384);
  const KeyLogLine& cr12 = need(h12, SecretLabel::kClientRandom, kTls12Sha384.name);
  Handshake cbc = p.run(kTls12Cbc);
  for (void* s : cbc.s)
    version.add(find_behind_pointer(object_bytes(s), mem, lib_base, cbc.version));
  p.free(cbc);
  Handshake h13[2] = {p.run(kTls13Sha384), p.run(kTls13Sha256)};
  if (h12.version == h13[0].version) die("its TLS 1.2 and TLS 1.3 sessions report one version");
  for (void* s : h12.s) {
    auto bytes = object_bytes(s);
    version.add(find_behind_pointer(bytes, mem, lib_base, h12.version));
    client_random.add(find_all(bytes, cr12.client_random, 1));
    master_key.add(find_all(bytes, cr12.secret, 1));
  }
  bool hs_held = true, exporter_held = line_of(h13[0], SecretLabel::kExporterSecret) != nullptr;
  for (Handshake& h : h13) {
    const Case& c = &h == &h13[0] ? kTls13Sha384 : kTls13Sha256;
    const KeyLogLine& chts = need(h, SecretLabel::kClientHandshakeTrafficSecret, c.name);
    for (void* s : h.s) {
      auto bytes = object_bytes(s);
      version.add(find_behind_pointer(bytes, mem, lib_base, h.version));
      hash_len.add(find_behind_pointer(bytes, mem, lib_base, h.hash_len));
      client_random.add(find_all(bytes, chts.client_random, 1));
      client_hs.add(find_all(bytes, chts.secret, 1));
      server_hs.add(
          find_all(bytes, need(h, SecretLabel::kServerHandshakeTrafficSecret, c.name).secret, 1));
      client_app.add(
          find_all(bytes, need(h, SecretLabel::kClientTrafficSecret0, c.name).secret, 1));
      server_app.add(
          find_all(bytes, need(h, SecretLabel::kServerTrafficSecret0, c.name).secret, 1));
      if (exporter_held) {
        exporter.add(find_all(bytes, need(h, SecretLabel::kExporterSecret, c.name).secret, 1));
      }
    }
  }
  // The handshake secrets may be gone once data moves: then no lines for
  // them, said by "none", never a guess.
  hs_held = !client_hs.empty() && !server_hs.empty();

  FinalOffsets o;
  uint32_t v = version.pick();
  o.version_ptr = v >> 16;
  o.version = v & 0xffff;
  o.tls13_version = static_cast<uint32_t>(h13[0].version);
  uint32_t hl = hash_len.pick();
  o.hash_len_ptr = hl >> 16;
  o.hash_len = hl & 0xffff;
  o.client_random = client_random.pick();
  o.master_key_ptr = kNoOffset;
  o.master_key = master_key.pick();
  if (hs_held) {
    o.client_hs_secret = client_hs.pick();
    o.server_hs_secret = server_hs.pick();
  }
  o.client_app_secret = client_app.pick();
  o.server_app_secret = server_app.pick();
  if (exporter_held && !exporter.empty()) o.exporter_secret = exporter.pick();
  p.free(h12);
  for (Handshake& h : h13) p.free(h);
  return o;
}

// Reads one session through the offsets, as tlstap's probes will.
FinalSecrets read_through(const FinalOffsets& o, const void* session, const Memory& mem) {
  auto bytes = object_bytes(session);
  auto copy = [&](uint32_t off, uint8_t* out, size_t n) {
    if (off == kNoOffset) return;
    if (off + n > bytes.size()) die("an offset lies outside the session");
    memcpy(out, bytes.data() + off, n);
  };
  FinalSecrets s;
  s.tls13 = read_u32_behind(bytes, o.version_ptr, o.version, mem) == o.tls13_version;
  copy(o.client_random, s.client_random.data(), 32);
  if (!s.tls13) {
    copy(o.master_key, s.master_key.data(), 48);
    return s;
  }
  s.hash_len = read_u32_behind(bytes, o.hash_len_ptr, o.hash_len, mem);
  copy(o.client_hs_secret, s.client_hs_secret.data(), kSslSecretField);
  copy(o.server_hs_secret, s.server_hs_secret.data(), kSslSecretField);
  copy(o.client_app_secret, s.client_app_secret.data(), kSslSecretField);
  copy(o.server_app_secret, s.server_app_secret.data(), kSslSecretField);
  copy(o.exporter_secret, s.exporter_secret.data(), kSslSecretField);
  return s;
}

void verify(Prober& p, const FinalOffsets& o) {
  Memory mem = Memory::of_self();
  static constexpr Case kChecks[] = {
      {"TLS 1.2 AES-128-GCM-SHA256", "+VERS-TLS1.2:+AES-128-GCM", false, 32},
      {"TLS 1.2 CHACHA20-POLY1305", "+VERS-TLS1.2:+CHACHA20-POLY1305", false, 32},
      {"TLS 1.2 AES-256-GCM-SHA384", "+VERS-TLS1.2:+AES-256-GCM", false, 48},
      {"TLS 1.2 AES-256-CBC-SHA1", "+VERS-TLS1.2:+AES-256-CBC:+SHA1", false, 32},
      {"TLS 1.3 AES-128-GCM-SHA256", "+VERS-TLS1.3:+AES-128-GCM", true, 32},
      {"TLS 1.3 CHACHA20-POLY1305-SHA256", "+VERS-TLS1.3:+CHACHA20-POLY1305", true, 32},
      {"TLS 1.3 AES-256-GCM-SHA384", "+VERS-TLS1.3:+AES-256-GCM", true, 48},
  };
  for (const Case& c : kChecks) {
    Handshake h = p.run(c);
    std::set<std::string> expected;
    for (const KeyLogLine& l : h.logged) {
      bool held = (l.label != SecretLabel::kClientHandshakeTrafficSecret &&
                   l.label != SecretLabel::kServerHandshakeTrafficSecret) ||
                  o.client_hs_secret != kNoOffset;
      if (l.label == SecretLabel::kExporterSecret) held = o.exporter_secret != kNoOffset;
      if (held) expected.insert(format_key_log_line(l));
    }
    for (int side = 0; side < 2; ++side) {
      auto lines = final_key_log_lines(read_through(o, h.s[side], mem));
      if (!lines) die(std::string("check failed (") + c.name + "): " + lines.error().message);
      std::set<std::string> read;
      for (const KeyLogLine& l : *lines) read.insert(format_key_log_line(l));
      if (read != expected) {
        die(std::string("check failed: the ") + (side ? "server" : "client") + "'s " + c.name +
            " secrets read through the offsets differ from its key log");
      }
    }
    p.free(h);
  }
}

}  // namespace

int gnutls_probe_main(const char* path) {
  Api api = load(path);
  Prober prober(api);
  FinalOffsets offsets = locate(prober, api);
  verify(prober, offsets);
  fputs(format_final_offsets(offsets).c_str(), stdout);
  return 0;
}

}  // namespace tlstap::keys
