#include "loader/probes.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <signal.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <set>

#include "loader/hold_guard.h"
#include "loader/ktls.h"
#include "tlstap_bpf.skel.h"
#include "tlstap_ktls_fentry.skel.h"

namespace tlstap::loader {
namespace {

// libbpf's messages: shown with -v, otherwise kept so an error can quote the
// last one instead of dumping a wall of text.
bool g_verbose = false;
std::string g_last_libbpf_warning;

int libbpf_print(enum libbpf_print_level level, const char* format, va_list args) {
  // Verifier logs arrive as one message of many kilobytes: size it first.
  va_list copy;
  va_copy(copy, args);
  int n = vsnprintf(nullptr, 0, format, copy);
  va_end(copy);
  std::string line(n > 0 ? n : 0, '\0');
  vsnprintf(line.data(), line.size() + 1, format, args);
  if (g_verbose) {
    fputs(line.c_str(), stderr);
  } else if (level == LIBBPF_WARN) {
    g_last_libbpf_warning = line;
    while (!g_last_libbpf_warning.empty() && g_last_libbpf_warning.back() == '\n') {
      g_last_libbpf_warning.pop_back();
    }
  }
  return 0;
}

std::string detail(int err) {
  std::string detail = strerror(err < 0 ? -err : err);
  if (!g_verbose && !g_last_libbpf_warning.empty()) detail += " (" + g_last_libbpf_warning + ")";
  return detail;
}

// struct file_key in bpf/maps.bpf.h: the kernel keeps dev as major << 20 | minor.
struct FileKey {
  uint64_t dev, ino;
};
FileKey file_key(uint64_t dev, uint64_t ino) {
  return {.dev = static_cast<uint64_t>(major(dev)) << 20 | minor(dev), .ino = ino};
}

// tcx attach types (Linux 6.6+, include/uapi/linux/bpf.h), fixed by the
// kernel ABI; Debian 12's headers and libbpf 1.1 predate them.
constexpr int kBpfTcxIngress = 46, kBpfTcxEgress = 47;

}  // namespace

Link::~Link() {
  if (link_) bpf_link__destroy(link_);
}

Result<std::unique_ptr<Probes>> Probes::make(const Options& options) {
  g_verbose = options.verbose;
  libbpf_set_print(libbpf_print);

  // bpf_loop() carries the chunking of large calls: kernels from 5.17 on.
  if (libbpf_probe_bpf_helper(BPF_PROG_TYPE_KPROBE, BPF_FUNC_loop, nullptr) != 1) {
    return fail(ExitCode::kFailure,
                "this kernel lacks the bpf_loop helper (Linux 5.17 or newer is needed)");
  }

  std::unique_ptr<Probes> probes(new Probes());
  probes->skel_ = tlstap_bpf__open();
  if (!probes->skel_) {
    return fail(ExitCode::kFailure, "cannot open the BPF object: " + detail(errno));
  }
  tlstap_bpf* skel = probes->skel_;
  probes->ktls_fentry_ = options.ktls_fentry;

  const Filters& f = options.filters;
  tlstap_config& cfg = skel->rodata->tlstap_cfg;
  cfg.self_tgid = static_cast<uint32_t>(getpid());
  cfg.filter_pids = !f.pids.empty();
  cfg.filter_uid = f.uid.has_value();
  cfg.uid = f.uid.value_or(0);
  cfg.filter_comm = !f.comms.empty();
  cfg.keys_only = options.keys_only;
  cfg.wakeup_bytes = options.ring_bytes / 8;
  // Where kTLS sendfile's pages are mapped (x86-64; KASLR moves both).
  auto bases = options.ktls ? kernel_symbols({"vmemmap_base", "page_offset_base"})
                            : std::map<std::string, uint64_t>{};
  cfg.vmemmap_base_sym = bases.contains("vmemmap_base") ? bases["vmemmap_base"] : 0;
  cfg.page_offset_base_sym = bases.contains("page_offset_base") ? bases["page_offset_base"] : 0;
  for (bpf_program* prog : {skel->progs.ktls_sendmsg_enter, skel->progs.ktls_recvmsg_enter,
                            skel->progs.ktls_sendpage_enter, skel->progs.ktls_call_exit,
                            skel->progs.ktls_splice_read_enter, skel->progs.ktls_splice_read_exit,
                            skel->progs.ktls_close_enter}) {
    bpf_program__set_autoload(prog, options.ktls);
  }

  if (int err = bpf_map__set_max_entries(skel->maps.events, options.ring_bytes)) {
    return fail(ExitCode::kUsage, "ring buffer size rejected: " + detail(err));
  }
  // Without -w FILE.pcapng the TC programs are not loaded and their ring
  // takes one page.
  const bool packets = options.packet_ring_bytes != 0;
  bpf_program__set_autoload(skel->progs.tc_egress, packets);
  bpf_program__set_autoload(skel->progs.tc_ingress, packets);
  cfg.filter_ports = !options.ports.empty();
  cfg.hold_new = options.hold_new;
  probes->hold_new_ = options.hold_new;
  if (int err = bpf_map__set_max_entries(
          skel->maps.packets,
          packets ? options.packet_ring_bytes : static_cast<uint32_t>(sysconf(_SC_PAGESIZE)))) {
    return fail(ExitCode::kUsage, "packet ring buffer size rejected: " + detail(err));
  }
  if (packets) {
    bpf_map__set_max_entries(skel->maps.packet_scratch,
                             static_cast<uint32_t>(std::max(1, libbpf_num_possible_cpus())));
  } else {
    // Nothing uses it: the smallest map the kernel takes.
    bpf_map__set_value_size(skel->maps.packet_scratch, sizeof(tlstap_packet_event) + 8);
  }
  // The socket I/O tracepoints (Linux 6.3+) cost only socket reads and
  // writes; sys_enter, the fallback, costs every syscall on the host.
  bool has_socket_tracepoints =
      libbpf_find_vmlinux_btf_id("sock_send_length", BPF_TRACE_RAW_TP) > 0 &&
      libbpf_find_vmlinux_btf_id("sock_recv_length", BPF_TRACE_RAW_TP) > 0;
  probes->syscall_hook_ = options.syscall_hook || !has_socket_tracepoints;
  probes->tc_clsact_ = options.tc_clsact;
  bpf_program__set_autoload(skel->progs.sys_enter, probes->syscall_hook_);
  bpf_program__set_autoload(skel->progs.sock_send, !probes->syscall_hook_);
  bpf_program__set_autoload(skel->progs.sock_recv, !probes->syscall_hook_);

  if (int err = tlstap_bpf__load(skel)) {
    return fail(ExitCode::kFailure, "cannot load the BPF programs: " + detail(err) +
                                        (g_verbose ? "" : "; run with -v for libbpf's log"));
  }

  uint8_t one = 1;
  for (pid_t pid : f.pids) {
    uint32_t key = static_cast<uint32_t>(pid);
    if (bpf_map__update_elem(skel->maps.target_pids, &key, sizeof(key), &one, sizeof(one),
                             BPF_ANY)) {
      return fail(ExitCode::kFailure, "cannot set the pid filter: " + detail(errno));
    }
  }
  for (const std::string& comm : f.comms) {
    char key[TLSTAP_COMM_LEN] = {};
    memcpy(key, comm.data(), std::min(comm.size(), sizeof(key) - 1));
    if (bpf_map__update_elem(skel->maps.target_comms, key, sizeof(key), &one, sizeof(one),
                             BPF_ANY)) {
      return fail(ExitCode::kFailure, "cannot set the command name filter: " + detail(errno));
    }
  }

  for (uint16_t port : options.ports) {
    if (bpf_map__update_elem(skel->maps.capture_ports, &port, sizeof(port), &one, sizeof(one),
                             BPF_ANY)) {
      return fail(ExitCode::kFailure, "cannot set the port filter: " + detail(errno));
    }
  }

  // Before the probes can hold anything: nothing stays stopped once tlstap
  // is gone, however it ends.
  if (options.hold_new) {
    auto guard = start_hold_guard(bpf_map__fd(skel->maps.held_pids), options.hold_limit);
    if (!guard) return std::unexpected(guard.error());
  }

  bpf_program* prog;
  bpf_object__for_each_program(prog, skel->obj) {
    if (!bpf_program__autoload(prog) || bpf_program__type(prog) != BPF_PROG_TYPE_TRACING) {
      continue;  // not loaded, or a uprobe program attached per library later
    }
    bpf_link* link = bpf_program__attach(prog);
    if (!link) {
      return fail(ExitCode::kFailure,
                  std::string("cannot attach ") + bpf_program__name(prog) + ": " + detail(errno));
    }
    probes->links_.emplace_back(link);
  }

  auto sample = [](void* ctx, void* data, size_t size) -> int {
    auto* self = static_cast<Probes*>(ctx);
    (*self->handler_)(std::span<const uint8_t>(static_cast<const uint8_t*>(data), size));
    return 0;
  };
  probes->ring_ = ring_buffer__new(bpf_map__fd(skel->maps.events), sample, probes.get(), nullptr);
  if (!probes->ring_) {
    return fail(ExitCode::kFailure, "cannot open the ring buffer: " + detail(errno));
  }
  if (packets &&
      ring_buffer__add(probes->ring_, bpf_map__fd(skel->maps.packets), sample, probes.get())) {
    return fail(ExitCode::kFailure, "cannot open the packet ring buffer: " + detail(errno));
  }
  return probes;
}

Probes::~Probes() {
  if (ring_) ring_buffer__free(ring_);
  packet_links_.clear();
  detach_cls_bpf();
  links_.clear();  // detach before the programs go away
  if (hold_new_) continue_all();
  if (ktls_fentry_skel_) tlstap_ktls_fentry__destroy(ktls_fentry_skel_);
  if (skel_) tlstap_bpf__destroy(skel_);
}

Result<void> Probes::attach_uprobe(const char* prog_name, const std::string& path, uint64_t offset,
                                   bool retprobe, uint64_t cookie, std::vector<Link>* out) {
  bpf_program* prog = bpf_object__find_program_by_name(skel_->obj, prog_name);
  LIBBPF_OPTS(bpf_uprobe_opts, opts, .bpf_cookie = cookie, .retprobe = retprobe);
  return keep_link(
      prog ? bpf_program__attach_uprobe_opts(prog, -1, path.c_str(), offset, &opts) : nullptr,
      prog_name, path, out);
}

Result<void> Probes::keep_link(bpf_link* link, const char* prog_name, const std::string& target,
                               std::vector<Link>* out) {
  if (!link) {
    int err = errno;
    return fail(ExitCode::kFailure,
                std::string("cannot attach ") + prog_name + " to " + target + ": " + detail(err));
  }
  out->emplace_back(link);
  return {};
}

Result<int> Probes::attach_library(const std::string& path, const std::vector<UprobeHook>& hooks,
                                   uint8_t lib, uint32_t key_file) {
  // The cookie layout is bpf/tlstap.h's TLSTAP_COOKIE_LIB/TLSTAP_COOKIE_KEY_FILE.
  uint64_t cookie = lib | static_cast<uint64_t>(key_file) << 32;
  std::vector<Link> links;
  for (const UprobeHook& hook : hooks) {
    if (hook.entry) {
      if (auto r = attach_uprobe(hook.entry, path, hook.offset, false, cookie, &links); !r) {
        return std::unexpected(r.error());
      }
    }
    if (hook.exit) {
      if (auto r = attach_uprobe(hook.exit, path, hook.offset, true, cookie, &links); !r) {
        return std::unexpected(r.error());
      }
    }
  }
  int n = static_cast<int>(links.size());
  {
    std::lock_guard lock(links_mu_);
    for (Link& link : links) links_.push_back(std::move(link));
  }
  return n;
}

Result<void> Probes::attach_kprobe(const char* prog_name, const std::string& function,
                                   bool retprobe, std::vector<Link>* out) {
  bpf_program* prog = bpf_object__find_program_by_name(skel_->obj, prog_name);
  return keep_link(prog ? bpf_program__attach_kprobe(prog, retprobe, function.c_str()) : nullptr,
                   prog_name, function, out);
}

namespace {

// Where plaintext crosses the tls module, and the programs that read it
// there, as kprobes and as fentry/fexit; the first two functions exist
// wherever kTLS does, the rest on some kernels (sendpage before 6.5,
// tls_device_* with CONFIG_TLS_DEVICE).
struct KtlsPoint {
  const char* function;
  const char* kprobe;  // nullptr: none
  const char* kretprobe;
  const char* fentry;
  const char* fexit;
  bool required;
};
constexpr KtlsPoint kKtlsPoints[] = {
    {"tls_sw_sendmsg", "ktls_sendmsg_enter", "ktls_call_exit", "ktls_fentry_sw_sendmsg",
     "ktls_fexit_sw_sendmsg", true},
    {"tls_sw_recvmsg", "ktls_recvmsg_enter", "ktls_call_exit", "ktls_fentry_sw_recvmsg",
     "ktls_fexit_sw_recvmsg", true},
    {"tls_sw_sendpage", "ktls_sendpage_enter", "ktls_call_exit", "ktls_fentry_sw_sendpage",
     "ktls_fexit_sw_sendpage", false},
    {"tls_device_sendmsg", "ktls_sendmsg_enter", "ktls_call_exit", "ktls_fentry_device_sendmsg",
     "ktls_fexit_device_sendmsg", false},
    {"tls_device_sendpage", "ktls_sendpage_enter", "ktls_call_exit", "ktls_fentry_device_sendpage",
     "ktls_fexit_device_sendpage", false},
    {"tls_sw_splice_read", "ktls_splice_read_enter", "ktls_splice_read_exit",
     "ktls_fentry_sw_splice_read", "ktls_fexit_sw_splice_read", false},
    {"tls_sk_proto_close", "ktls_close_enter", nullptr, "ktls_fentry_sk_proto_close", nullptr,
     false},
};

// The map of object main that map (of another object built from the same
// maps.bpf.c) stands for: the same name, or for a global section (.rodata,
// .bss), whose name starts with its object's, the same section.
bpf_map* same_map(bpf_object* main, const bpf_map* map) {
  if (!bpf_map__is_internal(map)) return bpf_object__find_map_by_name(main, bpf_map__name(map));
  const char* section = strrchr(bpf_map__name(map), '.');
  bpf_map* candidate;
  bpf_object__for_each_map(candidate, main) {
    const char* theirs = strrchr(bpf_map__name(candidate), '.');
    if (bpf_map__is_internal(candidate) && section && theirs && strcmp(section, theirs) == 0) {
      return candidate;
    }
  }
  return nullptr;
}

}  // namespace

Result<Probes::KtlsHooks> Probes::attach_ktls() {
  std::set<std::string> names;
  for (const KtlsPoint& p : kKtlsPoints) names.insert(p.function);
  std::set<std::string> present;
  for (const auto& [name, address] : kernel_symbols(names)) present.insert(name);
  for (const KtlsPoint& p : kKtlsPoints) {
    if (p.required && !present.contains(p.function)) {
      return fail(ExitCode::kFailure,
                  std::string("kTLS: ") + p.function + " is not in /proc/kallsyms");
    }
  }
  KtlsHooks hooks;
  for (const KtlsPoint& p : kKtlsPoints) {
    if (present.contains(p.function)) hooks.functions.push_back(p.function);
  }
  if (ktls_fentry_) {
    auto fentry = attach_ktls_fentry(present);
    if (fentry) {
      hooks.hook = "fentry/fexit";
      return hooks;
    }
    hooks.fentry_failure = fentry.error().message;
  }
  if (auto r = attach_ktls_kprobes(present); !r) return std::unexpected(r.error());
  hooks.hook = "kprobes";
  return hooks;
}

Result<void> Probes::attach_ktls_fentry(const std::set<std::string>& functions) {
  g_last_libbpf_warning.clear();
  std::unique_ptr<tlstap_ktls_fentry, void (*)(tlstap_ktls_fentry*)> skel(
      tlstap_ktls_fentry__open(), tlstap_ktls_fentry__destroy);
  if (!skel) return fail(ExitCode::kFailure, "cannot open its BPF object: " + detail(errno));
  // Its maps are the main object's: one ring, one set of counters and
  // connections, and the configuration it was loaded with.
  bpf_map* map;
  bpf_object__for_each_map(map, skel->obj) {
    bpf_map* main_map = same_map(skel_->obj, map);
    if (!main_map) {
      return fail(ExitCode::kFailure,
                  std::string("its map ") + bpf_map__name(map) + " is not in the main object");
    }
    if (int err = bpf_map__reuse_fd(map, bpf_map__fd(main_map))) {
      return fail(ExitCode::kFailure,
                  std::string("cannot share the map ") + bpf_map__name(map) + ": " + detail(err));
    }
  }
  for (const KtlsPoint& p : kKtlsPoints) {
    for (const char* name : {p.fentry, p.fexit}) {
      if (!name) continue;
      bpf_program* prog = bpf_object__find_program_by_name(skel->obj, name);
      if (prog) bpf_program__set_autoload(prog, functions.contains(p.function));
    }
  }
  if (int err = tlstap_ktls_fentry__load(skel.get())) {
    return fail(ExitCode::kFailure, "cannot load: " + detail(err));
  }
  std::vector<Link> links;
  bpf_program* prog;
  bpf_object__for_each_program(prog, skel->obj) {
    if (!bpf_program__autoload(prog)) continue;
    if (auto r = keep_link(bpf_program__attach(prog), bpf_program__name(prog),
                           bpf_program__section_name(prog), &links);
        !r) {
      return std::unexpected(r.error());
    }
  }
  {
    std::lock_guard lock(links_mu_);
    for (Link& link : links) links_.push_back(std::move(link));
  }
  ktls_fentry_skel_ = skel.release();
  return {};
}

Result<void> Probes::attach_ktls_kprobes(const std::set<std::string>& functions) {
  std::vector<Link> links;
  for (const KtlsPoint& p : kKtlsPoints) {
    if (!functions.contains(p.function)) continue;
    for (auto [prog, retprobe] : {std::pair{p.kprobe, false}, std::pair{p.kretprobe, true}}) {
      if (!prog) continue;
      if (auto r = attach_kprobe(prog, p.function, retprobe, &links); !r) {
        return std::unexpected(r.error());
      }
    }
  }
  {
    std::lock_guard lock(links_mu_);
    for (Link& link : links) links_.push_back(std::move(link));
  }
  return {};
}

Result<std::string> Probes::attach_packets(const PacketInterface& iface) {
  tlstap_iface where{.l3_offset = iface.l3_offset, .pad = 0};
  uint32_t key = static_cast<uint32_t>(iface.ifindex);
  if (bpf_map__update_elem(skel_->maps.capture_ifaces, &key, sizeof(key), &where, sizeof(where),
                           BPF_ANY)) {
    return fail(ExitCode::kFailure, "cannot note interface " + iface.name + ": " + detail(errno));
  }
  struct Direction {
    bool wanted;
    bpf_program* prog;
    bool ingress;
  };
  const Direction directions[] = {{iface.egress, skel_->progs.tc_egress, false},
                                  {iface.ingress, skel_->progs.tc_ingress, true}};
  std::string how = "tcx";
  for (const Direction& d : directions) {
    if (!d.wanted) continue;
    // A tcx link (appended after the interface's other tcx programs): it
    // goes away when its fd is closed, even if tlstap is killed.
    int fd = tc_clsact_ ? -1
                        : bpf_link_create(bpf_program__fd(d.prog), iface.ifindex,
                                          static_cast<bpf_attach_type>(d.ingress ? kBpfTcxIngress
                                                                                 : kBpfTcxEgress),
                                          nullptr);
    if (fd >= 0) {
      packet_links_.emplace_back(fd);
      continue;
    }
    // Kernels before 6.6: a cls_bpf filter on clsact.
    if (auto r = attach_cls_bpf(iface, d.ingress, bpf_program__fd(d.prog)); !r) {
      return std::unexpected(r.error());
    }
    how = "clsact";
  }
  return how;
}

Result<void> Probes::attach_cls_bpf(const PacketInterface& iface, bool ingress, int prog_fd) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = iface.ifindex,
              .attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
  int err = bpf_tc_hook_create(&hook);
  if (err && err != -EEXIST) {
    return fail(ExitCode::kFailure,
                "cannot add a clsact qdisc to " + iface.name + ": " + detail(err));
  }
  bool created = err == 0;
  for (const TcFilter& f : tc_filters_) {
    if (f.ifindex == iface.ifindex && f.qdisc_created) created = true;  // ours, from the other side
  }
  LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog_fd);
  if (int e = bpf_tc_attach(&hook, &opts)) {
    if (created) {
      hook.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
      bpf_tc_hook_destroy(&hook);
    }
    return fail(ExitCode::kFailure, std::string("cannot attach the packet program to ") +
                                        iface.name + (ingress ? " ingress: " : " egress: ") +
                                        detail(e));
  }
  tc_filters_.push_back({iface.ifindex, ingress, opts.handle, opts.priority, created});
  return {};
}

void Probes::detach_cls_bpf() {
  std::set<int> created;
  for (const TcFilter& f : tc_filters_) {
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = f.ifindex,
                .attach_point = f.ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
    LIBBPF_OPTS(bpf_tc_opts, opts, .handle = f.handle, .priority = f.priority);
    bpf_tc_detach(&hook, &opts);
    if (f.qdisc_created) created.insert(f.ifindex);
  }
  // Only a qdisc tlstap created goes, and only once its own filters are off.
  for (int ifindex : created) {
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
                .attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
    bpf_tc_hook_destroy(&hook);
  }
  tc_filters_.clear();
}

void Probes::forget_file(uint64_t dev, uint64_t ino) {
  FileKey key = file_key(dev, ino);
  bpf_map__delete_elem(skel_->maps.seen_files, &key, sizeof(key), 0);
}

int Probes::attached_probes() const {
  std::lock_guard lock(links_mu_);
  return static_cast<int>(links_.size());
}

void Probes::mark_seen(uint64_t dev, uint64_t ino) {
  FileKey key = file_key(dev, ino);
  uint8_t one = 1;
  bpf_map__update_elem(skel_->maps.seen_files, &key, sizeof(key), &one, sizeof(one), BPF_ANY);
}

bool Probes::continue_process(pid_t pid) {
  uint32_t key = static_cast<uint32_t>(pid);
  if (bpf_map__delete_elem(skel_->maps.held_pids, &key, sizeof(key), 0) != 0) return false;
  return kill(pid, SIGCONT) == 0;
}

int Probes::continue_all() {
  return continue_held(bpf_map__fd(skel_->maps.held_pids), std::chrono::nanoseconds(0));
}

Result<void> Probes::add_nss_ssl_file(uint64_t dev, uint64_t ino) {
  FileKey key = file_key(dev, ino);
  uint8_t one = 1;
  if (bpf_map__update_elem(skel_->maps.nss_ssl_files, &key, sizeof(key), &one, sizeof(one),
                           BPF_ANY)) {
    return fail(ExitCode::kFailure, "cannot note the NSS SSL library: " + detail(errno));
  }
  return {};
}

Result<void> Probes::set_ssl_offsets(uint32_t key_file, const tlstap_ssl_offsets& offsets) {
  if (key_file == 0 || key_file >= TLSTAP_MAX_KEY_FILES) {
    return fail(ExitCode::kFailure, "no room for more OpenSSL builds' secret offsets");
  }
  if (bpf_map__update_elem(skel_->maps.ssl_key_offsets, &key_file, sizeof(key_file), &offsets,
                           sizeof(offsets), BPF_ANY)) {
    return fail(ExitCode::kFailure, "cannot store the secret offsets: " + detail(errno));
  }
  return {};
}

int Probes::poll(int timeout_ms, const RecordHandler& handler) {
  handler_ = &handler;
  // Data records wake us only when the ring is filling up (wakeup_bytes),
  // so a timeout is the normal way out of the wait: consume what is there.
  int n = ring_buffer__poll(ring_, timeout_ms);
  if (n >= 0) {
    int more = ring_buffer__consume(ring_);
    n = more < 0 ? more : n + more;
  }
  handler_ = nullptr;
  return n;
}

Counters Probes::read_counters() const {
  Counters total{};
  int ncpus = libbpf_num_possible_cpus();
  if (ncpus <= 0) return total;
  std::vector<tlstap_stats> per_cpu(ncpus);
  uint32_t zero = 0;
  if (bpf_map__lookup_elem(skel_->maps.stats, &zero, sizeof(zero), per_cpu.data(),
                           per_cpu.size() * sizeof(tlstap_stats), 0)) {
    return total;
  }
  for (const tlstap_stats& s : per_cpu) {
    for (size_t i = 0; i < total.size(); ++i) total[i] += s.v[i];
  }
  return total;
}

}  // namespace tlstap::loader
