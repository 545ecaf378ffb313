// Finds the TLS libraries processes on this host use, and tells which probes
// go where. Files are identified by (device, inode) so a library shared by
// many processes, or reached through different paths, is attached once.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <cstdint>
#include <functional>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bpf/tlstap.h"
#include "util/error.h"

namespace tlstap::discovery {
namespace internal {
class ElfFile;
}

// NSS is two files: libnspr4 (NSPR's I/O, where plaintext passes) and
// libssl3 (the SSL layer, which tells TLS descriptors from the rest); both are
// targets of kind kNss. A Go program carries its crypto/tls inside: kGo.
enum class LibKind { kOpenSsl, kBoringSsl, kGnuTls, kNss, kGo };

// The TLS stacks tlstap hooks in user space, each once: what --lib,
// --no-NAME, --list, the messages and the hooks read about it. A new stack
// is a line here (and its kind above), plus its discovery rule, its probe
// points and its BPF programs.
struct Stack {
  LibKind kind;
  std::string_view name;  // --lib NAME, --no-NAME, --list, the events' "lib"
  uint8_t lib_code;       // TLSTAP_LIB_*: the code its probes carry (bpf/tlstap.h)
  std::string_view what;  // --help: "do not hook <what>"
  bool keys;              // its sessions' secrets are read (--keylog, tlstap keys)
};
inline constexpr Stack kStacks[] = {
    {LibKind::kOpenSsl, "openssl", TLSTAP_LIB_OPENSSL,
     "OpenSSL (libssl, and programs exporting SSL_*)", true},
    {LibKind::kBoringSsl, "boringssl", TLSTAP_LIB_BORINGSSL,
     "BoringSSL (e.g. Debian's android libssl.so.0)", true},
    {LibKind::kGnuTls, "gnutls", TLSTAP_LIB_GNUTLS, "GnuTLS (libgnutls)", true},
    {LibKind::kNss, "nss", TLSTAP_LIB_NSS, "NSS (libnspr4's PR_Read/PR_Write on SSL sockets)",
     false},
    {LibKind::kGo, "go", TLSTAP_LIB_GO, "Go programs' crypto/tls", true},
};
inline constexpr LibKind kLibKinds[] = {kStacks[0].kind, kStacks[1].kind, kStacks[2].kind,
                                        kStacks[3].kind, kStacks[4].kind};
static_assert(std::size(kLibKinds) == std::size(kStacks));

const Stack& stack_of(LibKind kind);
std::string_view lib_kind_name(LibKind kind);  // stack_of(kind).name
std::optional<LibKind> lib_kind_from_name(std::string_view name);

struct FileId {
  uint64_t dev = 0;  // userspace st_dev encoding (makedev)
  uint64_t ino = 0;
  auto operator<=>(const FileId&) const = default;
};

// One line of /proc/PID/maps.
struct Mapping {
  uint64_t start = 0, end = 0, offset = 0;
  std::string perms;  // "r-xp"
  uint32_t dev_major = 0, dev_minor = 0;
  uint64_t inode = 0;
  std::string path;  // may be empty, "[heap]", or end in " (deleted)"
};

std::vector<Mapping> parse_maps(std::string_view text);

// A runtime that does its TLS inside itself, in code tlstap does not hook:
// nothing of its processes' TLS traffic is captured (unless it goes through
// a library tlstap hooks). Known from a process's maps.
struct UnhookedRuntime {
  std::string name;      // "Java"
  std::string tls;       // its TLS: "JSSE"
  std::string evidence;  // the mapped file that shows it (.../libjvm.so)
};

// The unhooked runtime a process's mappings show, if any: Java, by the
// JVM's libjvm.so.
std::optional<UnhookedRuntime> unhooked_runtime(const std::vector<Mapping>& maps);

// A function to probe: its name and its offset in the file (what uprobes take).
struct Symbol {
  std::string name;
  uint64_t file_offset = 0;
};

// A TLS library file and what tlstap knows about it.
struct Target {
  FileId id;
  LibKind kind = LibKind::kOpenSsl;
  std::string path;       // as the owning process sees it ("/usr/lib/.../libssl.so.3")
  std::string open_path;  // how tlstap reaches it ("/proc/123/root/usr/lib/...")
  // "3" for libssl.so.3, "30" for libgnutls.so.30 (from SONAME); NSS's own:
  // "3.87.1" for libssl3, "NSPR 4.35" for libnspr4; "1.19.8" for a Go
  // program built by go1.19.8
  std::string version;
  std::map<std::string, Symbol> symbols;  // the probe-able functions found
  // Functions probed at each return instruction instead of by a uretprobe
  // (Go's): their name -> the file offsets of those instructions.
  std::map<std::string, std::vector<uint64_t>> returns;
  std::set<pid_t> pids;  // processes seen mapping it
  // Why no probe goes here, for a file that is clearly one of the kinds but
  // cannot be probed (a Go program without crypto/tls, or built for another
  // machine or an older Go): listed with its processes rather than dropped
  // in silence. Empty for a file to probe.
  std::string not_probed;
};

// What inspect_file concluded, by content: a file whose build id (GNU's,
// else Go's) and size match one inspected before holds the same code at the
// same offsets, so another copy (a program copied or reinstalled, the same
// image in another container's overlay) takes its plan without being read.
// Files without a build id are always inspected. Bounded: it starts over
// when full.
class PlanCache {
 public:
  static constexpr size_t kMaxEntries = 1024;
  // The key of an open file ("" without a build id).
  static std::string key_of(const internal::ElfFile& elf);
  const std::optional<Target>* find(const std::string& key) const;
  void add(const std::string& key, const std::optional<Target>& plan);
  uint64_t hits() const { return hits_; }

 private:
  std::map<std::string, std::optional<Target>> plans_;
  mutable uint64_t hits_ = 0;
};

// Inspects one ELF file: if it is a TLS library tlstap can probe, returns the
// Target (without pids); std::nullopt if it is not one; an Error if the file
// cannot be read or parsed. With a cache, a file of known content is not
// inspected again (and what is inspected is added).
Result<std::optional<Target>> inspect_file(const std::string& open_path,
                                           PlanCache* cache = nullptr);

// Where to probe an OpenSSL build, as file offsets. When discovery found the
// internal functions every path goes through (ssl_write_internal and
// ssl_read_internal: SSL_write, SSL_write_ex and BIO_f_ssl alike), they are
// the write_ex/read_ex points (same signature) and the exported wrappers are
// left alone: fewer probes, nothing bypasses them, and their first
// instructions are ones the kernel emulates (cheaper hits). Otherwise the
// four exported functions.
struct OpenSslProbePoints {
  std::optional<uint64_t> write, write_ex, read, read_ex, free;
  // BoringSSL's keys only (loader::key_hooks_for): its TLS 1.3 handshake
  // secrets are read while this runs.
  std::optional<uint64_t> handshake;
};
OpenSslProbePoints openssl_probe_points(const Target& target);

// Where to probe GnuTLS: gnutls_record_send2 (or, before 3.6.3,
// gnutls_record_send), gnutls_record_recv and gnutls_record_recv_seq carry
// all application data of TLS sessions (libgnutls-openssl's SSL_write and
// SSL_read call them too, so that compatibility library is not a target of
// its own); gnutls_deinit ends a session.
struct GnuTlsProbePoints {
  std::optional<uint64_t> send, recv, recv_seq, deinit;
};
GnuTlsProbePoints gnutls_probe_points(const Target& target);

// Where to probe a Go program's crypto/tls: the entries of (*Conn).Write
// and (*Conn).Read, and every return instruction of each. A uretprobe
// replaces the return address on the stack, which Go copies elsewhere
// when it grows a goroutine's stack: the program would crash.
// write_key_log: the entry of (*Config).writeKeyLog, which crypto/tls calls
// with every secret (for tlstap keys); std::nullopt when the linker left it
// out or the compiler inlined it.
struct GoProbePoints {
  std::optional<uint64_t> write, read;
  std::vector<uint64_t> write_returns, read_returns;
  std::optional<uint64_t> write_key_log;
};
GoProbePoints go_probe_points(const Target& target);

// Where to probe NSS. In NSPR (libnspr4): PR_Write, PR_Writev, PR_Send,
// PR_Read, PR_Recv, which programs call with the descriptor SSL_ImportFD gave
// them (the SSL layer on top), and PR_Close. In libssl3: SSL_ImportFD, whose
// return teaches the probes the SSL layer's identity; the file itself tells
// SSL layers of processes that started before tlstap.
struct NssProbePoints {
  std::optional<uint64_t> write, writev, send, read, recv, close, import_fd;
};
NssProbePoints nss_probe_points(const Target& target);

// Library paths from the dynamic linker's cache (/etc/ld.so.cache, new format).
std::vector<std::string> read_ld_cache(const std::string& path = "/etc/ld.so.cache");

// Keeps every Target found, keyed by file identity.
class Inventory {
 public:
  explicit Inventory(std::string proc_root = "/proc") : proc_root_(std::move(proc_root)) {}

  // Scans every process's maps, then the linker cache (libraries no process
  // maps yet, so a program started later is covered from its first call).
  // Returns the targets not seen before.
  std::vector<Target*> scan_all();

  // Scans one process (after it mapped a new executable file). Returns the
  // targets not seen before; pids of known targets are updated.
  std::vector<Target*> scan_pid(pid_t pid);

  // The file a process is mapping right now, reached through the descriptor
  // it maps (/proc/PID/fd/FD; /proc/PID/exe when fd is TLSTAP_MAPPED_EXE, a
  // program just exec'd) rather than its maps, which do not show it yet:
  // the quickest way to a library loaded after start. If it is a new TLS
  // library, calls attach(target) while the file is held open (target's
  // open_path is valid only then). Returns whether the file is known now;
  // false when the descriptor no longer leads to `id` (use scan_pid()).
  bool scan_mapped_fd(pid_t pid, int fd, const FileId& id,
                      const std::function<void(const Target&)>& attach);

  // Processes seen running a runtime whose TLS tlstap does not hook (Java),
  // by pid, as of their last scan (for --list and the start line).
  const std::map<pid_t, UnhookedRuntime>& unhooked() const { return unhooked_; }

  // Files that failed inspection, with the reason (for --list and -v).
  const std::map<FileId, std::string>& failures() const { return failures_; }
  const std::map<FileId, Target>& targets() const { return targets_; }

  // Every file inspected so far.
  std::vector<FileId> known() const;
  // Files whose plan came from another file of the same content.
  uint64_t plans_reused() const { return plans_.hits(); }

  // Whether the file was inspected already (TLS library or not).
  bool knows(const FileId& id) const {
    return targets_.contains(id) || failures_.contains(id) || not_tls_.contains(id);
  }

 private:
  std::vector<Target*> scan_mappings(pid_t pid, const std::vector<Mapping>& maps);
  Target* consider(const FileId& id, const std::string& path, const std::string& open_path,
                   pid_t pid);

  pid_t self_ = getpid();
  std::string proc_root_;
  std::map<FileId, Target> targets_;
  std::map<FileId, std::string> failures_;
  std::set<FileId> not_tls_;  // inspected, not a TLS library
  PlanCache plans_;           // what was found, by content
  std::map<pid_t, UnhookedRuntime> unhooked_;
};

}  // namespace tlstap::discovery
