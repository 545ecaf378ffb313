// Typed events, decoded from ring-buffer records. What the rest of tlstap
// (streams, protocols, exporters) sees; nothing here depends on libbpf.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tlstap::capture {

enum class Lib : uint8_t { kUnknown = 0, kOpenSsl, kBoringSsl, kGnuTls, kNss, kGo, kKtls };
enum class Dir : uint8_t { kTx = 1, kRx = 2 };
// How the connection of an event was found.
enum class Attribution : uint8_t {
  kNone,     // no socket syscall inside the call and none remembered
  kSyscall,  // a socket syscall made inside this very call
  kCached,   // remembered from an earlier call on the same TLS session
  kThread,   // inferred: the socket the thread used next to the session's calls
  kConn,     // read from the session's own connection object (Go's net.Conn)
  kSocket,   // kTLS: the socket the kernel's TLS layer was handed; no syscall named its fd
};

// 0 for tx, 1 for rx: an index into per-direction arrays.
inline size_t dir_index(Dir dir) { return dir == Dir::kTx ? 0 : 1; }
// The other direction of the same connection.
inline Dir opposite(Dir dir) { return dir == Dir::kTx ? Dir::kRx : Dir::kTx; }

std::string_view lib_name(Lib lib);  // "openssl", ...
std::string_view dir_name(Dir dir);  // "tx" / "rx"
std::string_view attribution_name(Attribution a);

struct Endpoint {
  uint8_t family = 0;  // AF_INET, AF_INET6, AF_UNIX, 0 = unknown
  std::array<uint8_t, 16> addr{};
  uint16_t port = 0;
};

// "127.0.0.1:8443", "[::1]:8443", "unix", "" when unknown.
std::string format_endpoint(const Endpoint& e);

// The bytes of an event. A call that arrived in one chunk borrows them from
// the ring buffer: no copy is made on the way to the exporters, which see the
// event during the ring-buffer callback. Anything that keeps an event keeps a
// copy, and a copy always owns its bytes, so a kept event never points into
// the ring.
class Payload {
 public:
  Payload() = default;
  Payload(std::string bytes) : owned_(std::move(bytes)) {}  // NOLINT: a string is a payload
  Payload(const Payload& other) : owned_(other.view()) {}
  Payload(Payload&&) noexcept = default;
  Payload& operator=(const Payload& other) {
    if (this != &other) *this = Payload(other);
    return *this;
  }
  Payload& operator=(Payload&&) noexcept = default;

  // Valid while the memory behind bytes is (the ring-buffer callback).
  static Payload borrow(std::string_view bytes) {
    Payload p;
    p.borrowed_ = bytes;
    p.is_borrowed_ = true;
    return p;
  }
  // The bytes as a string to append to; a borrowed payload is copied first.
  std::string& owned() {
    if (is_borrowed_) {
      owned_.assign(borrowed_);
      is_borrowed_ = false;
    }
    return owned_;
  }

  std::string_view view() const { return is_borrowed_ ? borrowed_ : std::string_view(owned_); }
  operator std::string_view() const { return view(); }  // NOLINT: reads as bytes
  size_t size() const { return view().size(); }
  bool empty() const { return view().empty(); }
  const char* data() const { return view().data(); }
  bool borrowed() const { return is_borrowed_; }
  friend bool operator==(const Payload& a, std::string_view b) { return a.view() == b; }

 private:
  std::string owned_;
  std::string_view borrowed_;
  bool is_borrowed_ = false;
};

// One TLS call's plaintext, reassembled from its chunks.
struct DataEvent {
  uint64_t ts_ns = 0;  // CLOCK_REALTIME nanoseconds at the call's return
  uint64_t cgroup_id = 0;
  uint64_t conn_id = 0;     // TLS session while tlstap runs; 0 if none
  uint64_t stream_pos = 0;  // offset of this call in its direction of the session
  pid_t pid = 0, tid = 0;
  uint32_t uid = 0;
  int32_t fd = -1;
  Lib lib = Lib::kUnknown;
  Dir dir = Dir::kTx;
  Attribution attribution = Attribution::kNone;
  // A library call whose bytes the kernel's TLS layer (kTLS) carried too;
  // they are reported once, here.
  bool ktls = false;
  std::string comm;    // the process's name (its thread-group leader's, as ps -o comm)
  std::string thread;  // the calling thread's own name when it differs from comm; else empty
  Endpoint local, remote;
  uint64_t len = 0;  // bytes the call transferred
  Payload data;      // bytes captured, in order (== len bytes unless lost is non-empty)
  // Ranges of the call (offset, length) that never arrived; their bytes are
  // absent from data. Empty for a complete capture.
  std::vector<std::pair<uint64_t, uint64_t>> lost;

  bool attributed() const { return attribution != Attribution::kNone; }
};

// A TLS session's secrets as the probes read them from the library's
// session object (OpenSSL's SSL): raw fields, turned into key log lines by
// keys/. tls13 or tls12 holds bytes, by version.
struct SecretsEvent {
  uint64_t ts_ns = 0;  // CLOCK_REALTIME nanoseconds
  uint64_t conn_id = 0;
  pid_t pid = 0, tid = 0;
  std::string comm;  // the process's
  Lib lib = Lib::kUnknown;
  int version = 0;  // the library's protocol version field (0x0304 TLS 1.3)
  std::array<uint8_t, 32> client_random{};
  std::array<uint8_t, 48> master_key{};  // TLS 1.2 and earlier
  // TLS 1.3, each a 64-byte field of which the hash length's first bytes count
  std::array<uint8_t, 64> handshake_secret{}, handshake_traffic_hash{}, client_finished_secret{};
  std::array<uint8_t, 64> client_app_secret{}, server_app_secret{}, exporter_secret{};
  // A library that holds every TLS 1.3 secret final (GnuTLS): the
  // handshake traffic secrets as they are, the hash length read with them;
  // handshake_secret, handshake_traffic_hash and client_finished_secret
  // unused. All zeros: a secret the library does not hold.
  bool final_secrets = false;
  // Only the handshake traffic secrets, read while the handshake ran
  // (BoringSSL); the session's other secrets come in a record of their own.
  bool handshake_only = false;
  uint32_t hash_len = 0;
  std::array<uint8_t, 64> client_hs_secret{}, server_hs_secret{};
};

// One secret as the TLS library handed it to its own key log (Go's
// (*tls.Config).writeKeyLog): the three fields of a key log line, final.
// The lengths are the library's; a field holds only the bytes that fit
// (client_random is read only when random_len is 32).
struct LoggedSecretEvent {
  uint64_t ts_ns = 0;  // CLOCK_REALTIME nanoseconds
  pid_t pid = 0, tid = 0;
  std::string comm;
  Lib lib = Lib::kUnknown;
  std::string label;  // "CLIENT_TRAFFIC_SECRET_0": its first 32 bytes at most
  uint32_t label_len = 0, random_len = 0, secret_len = 0;
  std::array<uint8_t, 32> client_random{};
  std::array<uint8_t, 64> secret{};  // the first min(secret_len, 64) bytes
  // Nonzero when the probe could not read the label (its page not touched
  // yet): label is empty, and the label is at this address of pid.
  uint64_t label_addr = 0;
};

// A TCP packet the TC programs took on an interface (-w FILE.pcapng): its
// bytes from the link-layer header on, borrowed from the ring buffer (valid
// during the callback; copy to keep).
struct PacketEvent {
  uint64_t ts_ns = 0;  // CLOCK_REALTIME nanoseconds at the interface
  uint32_t ifindex = 0;
  Dir dir = Dir::kTx;  // tx: egress, rx: ingress
  uint64_t sock_cookie = 0;
  uint32_t wire_len = 0;  // length at the interface; data may hold fewer bytes
  std::string_view data;
};

// A TLS session ended (SSL_free, gnutls_deinit, PR_Close, a kTLS socket's
// close, its process's exit): no more DataEvents come with its conn_id.
struct ConnEndEvent {
  uint64_t ts_ns = 0;  // CLOCK_REALTIME nanoseconds
  pid_t pid = 0;
  uint64_t conn_id = 0;
};

// A process mapped an executable file tlstap had not seen yet.
struct FileMappedEvent {
  pid_t pid = 0;
  uint64_t dev = 0;  // userspace st_dev encoding
  uint64_t ino = 0;
  int fd = -1;           // the descriptor it was mapped from, open at the time of the notice
  uint64_t mono_ns = 0;  // CLOCK_MONOTONIC at the mmap or exec
  std::string comm;      // the task's command name then ("" if not set yet)
  uint32_t hold = 0;     // enum tlstap_hold: TLSTAP_HOLD_STOPPED if --hold-new stopped it
};

}  // namespace tlstap::capture
