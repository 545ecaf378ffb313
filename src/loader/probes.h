// The only place that talks to libbpf. Owns the BPF object, its links and
// its ring buffer; everything else sees records as byte spans and counters
// as numbers.
#pragma once

#include <sys/types.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "bpf/tlstap.h"
#include "loader/hooks.h"
#include "util/error.h"
#include "util/private_file.h"

struct tlstap_bpf;  // the generated skeletons
struct tlstap_ktls_fentry;
struct bpf_link;
struct ring_buffer;

namespace tlstap::loader {

struct Filters {
  std::vector<pid_t> pids;  // empty: all processes
  std::optional<uint32_t> uid;
  std::vector<std::string> comms;  // empty: any; else one of them, exactly (at most 15 bytes)
};

struct Options {
  Filters filters;
  uint32_t ring_bytes = 64u << 20;  // power of two, at least one page
  bool verbose = false;             // show libbpf's own messages
  // Attribute connections from sys_enter, as on kernels without the socket
  // I/O tracepoints (before 6.3), even where they exist: tests that path.
  bool syscall_hook = false;
  // Load the kTLS programs (attached later, by attach_ktls).
  bool ktls = true;
  // Hook the kTLS functions with fentry/fexit where the kernel allows,
  // kprobes otherwise; false: kprobes always (--ktls-kprobes).
  bool ktls_fentry = true;
  // tlstap keys: the probes send TLS secrets only, no plaintext.
  bool keys_only = false;
  // -w FILE.pcapng: load the TC programs (attached per interface by
  // attach_packets) with a packets ring of this many bytes (a power of
  // two); 0: no packets.
  uint32_t packet_ring_bytes = 0;
  // --port: only TCP packets from or to these ports (empty: all).
  std::vector<uint16_t> ports;
  // Attach the packet programs as cls_bpf filters on clsact, as on kernels
  // before 6.6, even where tcx exists: tests that path.
  bool tc_clsact = false;
  // --hold-new: stop a process that maps a file not seen yet until
  // continue_held() (or the watchdog, after hold_limit).
  bool hold_new = false;
  std::chrono::milliseconds hold_limit{1000};
};

// One interface to take packets on.
struct PacketInterface {
  int ifindex = 0;
  std::string name;
  uint32_t l3_offset = 14;  // where the IP header starts: 14 (Ethernet, loopback) or 0
  bool ingress = true;      // loopback: egress only, each packet crosses it twice
  bool egress = true;
};

using Counters = std::array<uint64_t, TLSTAP_STAT_COUNT>;

class Link {
 public:
  explicit Link(bpf_link* link) : link_(link) {}
  Link(Link&& other) noexcept : link_(std::exchange(other.link_, nullptr)) {}
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;
  ~Link();

 private:
  bpf_link* link_;
};

class Probes {
 public:
  // Opens, configures, loads the BPF object and attaches the syscall and
  // scheduler hooks. Uprobes come later, per library file.
  static Result<std::unique_ptr<Probes>> make(const Options& options);
  ~Probes();
  Probes(const Probes&) = delete;
  Probes& operator=(const Probes&) = delete;

  // Attaches the hooks to one file, for every process that maps it. lib is
  // the enum tlstap_lib value its events carry; key_file, when not 0, the
  // file's slot in the secret offsets (set_ssl_offsets): its probes then
  // send each new TLS session's secrets. Returns the number of probes
  // attached; all or nothing.
  Result<int> attach_library(const std::string& path, const std::vector<UprobeHook>& hooks,
                             uint8_t lib, uint32_t key_file = 0);

  // Where the OpenSSL file in slot key_file (1 to TLSTAP_MAX_KEY_FILES - 1)
  // keeps its secrets.
  Result<void> set_ssl_offsets(uint32_t key_file, const tlstap_ssl_offsets& offsets);

  // How the kTLS functions were hooked.
  struct KtlsHooks {
    std::string hook;                    // "fentry/fexit" or "kprobes"
    std::vector<std::string> functions;  // the functions hooked
    std::string fentry_failure;          // kprobes although fentry was tried: why
  };
  // Hooks the tls module's functions (it must be loaded): with fentry/fexit
  // where the kernel allows (and Options::ktls_fentry), else with kprobes.
  // All or nothing.
  Result<KtlsHooks> attach_ktls();

  // Attaches the packet programs to an interface (tcx links on Linux 6.6+;
  // else cls_bpf filters on a clsact qdisc, created only if absent). What
  // tlstap added is removed when Probes goes away, and nothing else: a
  // clsact qdisc that was there before stays. Returns "tcx" or "clsact".
  Result<std::string> attach_packets(const PacketInterface& iface);

  // Lets the probes report this file again the next time a process maps or
  // executes it (userspace st_dev encoding, inode): for a file tlstap could
  // not reach, its process gone before it was opened.
  void forget_file(uint64_t dev, uint64_t ino);

  // Tells the probes not to report this file (userspace st_dev encoding,
  // inode): inspected already, at start.
  void mark_seen(uint64_t dev, uint64_t ino);

  // --hold-new: continues a process the probes stopped, unless the watchdog
  // did (it was held past the limit) or it is gone. Returns whether this
  // call continued it.
  bool continue_process(pid_t pid);
  // Continues every process still held (at the end).
  int continue_all();

  // Tells the probes that code in this file (userspace st_dev encoding,
  // inode) is NSS's SSL layer.
  Result<void> add_nss_ssl_file(uint64_t dev, uint64_t ino);

  // Waits up to timeout_ms for records and hands each to handler. Returns
  // the number handled, or a negative errno (-EINTR when a signal came).
  using RecordHandler = std::function<void(std::span<const uint8_t>)>;
  int poll(int timeout_ms, const RecordHandler& handler);

  // Kernel-side counters summed over CPUs.
  Counters read_counters() const;

  // Probes attached so far (safe from any thread).
  int attached_probes() const;

  // How the socket of a TLS call is found: "socket I/O tracepoints" or
  // "sys_enter" (older kernels, or Options::syscall_hook).
  const char* attribution_hook() const {
    return syscall_hook_ ? "sys_enter" : "socket I/O tracepoints";
  }

 private:
  Probes() = default;
  Result<void> attach_uprobe(const char* prog_name, const std::string& path, uint64_t offset,
                             bool retprobe, uint64_t cookie, std::vector<Link>* out);

  // Keeps a new link in *out, or says which program did not attach where.
  Result<void> keep_link(bpf_link* link, const char* prog_name, const std::string& target,
                         std::vector<Link>* out);
  Result<void> attach_kprobe(const char* prog_name, const std::string& function, bool retprobe,
                             std::vector<Link>* out);
  // The two ways of attach_ktls; functions: those of the tls module that
  // this kernel has.
  Result<void> attach_ktls_fentry(const std::set<std::string>& functions);
  Result<void> attach_ktls_kprobes(const std::set<std::string>& functions);

  // A cls_bpf filter tlstap added (kernels without tcx), and whether the
  // clsact qdisc it sits on is tlstap's too.
  struct TcFilter {
    int ifindex;
    bool ingress;
    uint32_t handle, priority;
    bool qdisc_created;
  };
  Result<void> attach_cls_bpf(const PacketInterface& iface, bool ingress, int prog_fd);
  void detach_cls_bpf();

  tlstap_bpf* skel_ = nullptr;
  tlstap_ktls_fentry* ktls_fentry_skel_ = nullptr;  // loaded by attach_ktls_fentry
  bool ktls_fentry_ = true;
  ring_buffer* ring_ = nullptr;
  // Links are added by the thread that attaches files and the one that
  // attaches kTLS; read for statistics by another.
  mutable std::mutex links_mu_;
  std::vector<Link> links_;
  std::vector<UniqueFd> packet_links_;  // tcx link fds
  std::vector<TcFilter> tc_filters_;
  bool tc_clsact_ = false;
  const RecordHandler* handler_ = nullptr;
  bool syscall_hook_ = false;
  bool hold_new_ = false;
};

}  // namespace tlstap::loader
