// floor_probes: attaches empty BPF programs exactly where tlstap attaches its
// own — the same file offsets, chosen by the same discovery code and hook
// plan (loader/hooks.h) — for every process using the given TLS libraries or
// Go program. What a workload loses under it is the cost of the probe hits
// alone, the floor any uprobe-based tracer pays at those addresses
// (bench/README.md). With --exported (OpenSSL) it probes the exported
// SSL_write/SSL_read/SSL_write_ex/SSL_read_ex instead, as most tools do.
//
// usage: floor_probes [-v] [--exported] [--syscalls] [FILE...]
// Without a file it uses the libssl.so.3 the dynamic linker finds. A stack
// tlstap probes in two files (NSS: libnspr4 and libssl3) takes both. Prints
// "floor: attached" on stderr once every probe is in place, detaches and exits
// 0 on SIGINT or SIGTERM.

#include <bpf/libbpf.h>
#include <dlfcn.h>
#include <link.h>
#include <signal.h>

#include <cerrno>
#include <climits>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "bench_empty.skel.h"
#include "discovery/targets.h"
#include "loader/hooks.h"

namespace {

bool verbose = false;

int PrintLibbpf(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG && !verbose) return 0;
  if (level == LIBBPF_INFO && !verbose) return 0;
  return std::vfprintf(stderr, format, args);
}

struct SkeletonDestroy {
  void operator()(bench_empty* s) const { bench_empty::destroy(s); }
};
struct LinkDestroy {
  void operator()(bpf_link* l) const { bpf_link__destroy(l); }
};
using SkeletonPtr = std::unique_ptr<bench_empty, SkeletonDestroy>;
using LinkPtr = std::unique_ptr<bpf_link, LinkDestroy>;

// The file the dynamic linker resolves "libssl.so.3" to, as the workload
// (linked against the same soname) will load it. Uprobes key on the inode, so
// any path to that file works; the canonical one reads best in messages.
std::string FindLibssl() {
  void* handle = dlopen("libssl.so.3", RTLD_LAZY | RTLD_LOCAL);
  if (handle == nullptr) {
    throw std::runtime_error(std::string("cannot load libssl.so.3 (") + dlerror() +
                             "); pass its path as the argument");
  }
  link_map* map = nullptr;
  if (dlinfo(handle, RTLD_DI_LINKMAP, &map) != 0 || map == nullptr || map->l_name[0] == '\0') {
    dlclose(handle);
    throw std::runtime_error("cannot tell where libssl.so.3 was loaded from; pass its path");
  }
  char resolved[PATH_MAX];
  std::string path = realpath(map->l_name, resolved) != nullptr ? resolved : map->l_name;
  dlclose(handle);
  return path;
}

LinkPtr Attach(bpf_program* prog, const std::string& lib, uint64_t offset, bool retprobe) {
  LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = retprobe);
  LinkPtr link(bpf_program__attach_uprobe_opts(prog, /*pid=*/-1, lib.c_str(), offset, &opts));
  if (!link) {
    int err = errno;
    throw std::runtime_error(std::string("attach ") + (retprobe ? "uretprobe" : "uprobe") +
                             " at offset " + std::to_string(offset) + " of " + lib + ": " +
                             std::strerror(err));
  }
  return link;
}

tlstap::discovery::Target Inspect(const std::string& file, bool exported) {
  auto target = tlstap::discovery::inspect_file(file);
  if (!target) throw std::runtime_error(target.error().message);
  if (!target->has_value()) throw std::runtime_error(file + " is no TLS library tlstap probes");
  if (exported) {
    if ((*target)->kind != tlstap::discovery::LibKind::kOpenSsl) {
      throw std::runtime_error("--exported is for OpenSSL's libssl");
    }
    (*target)->symbols.erase("ssl_write_internal");
    (*target)->symbols.erase("ssl_read_internal");
  }
  return std::move(**target);
}

int Run(const std::vector<std::string>& libs, bool exported, bool syscalls) {
  // Block the stop signals first so one arriving during setup is not lost;
  // sigwait collects it after attaching.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  SkeletonPtr skel(bench_empty::open());
  if (skel) bpf_program__set_autoload(skel->progs.empty_sys_enter, syscalls);
  if (!skel || bench_empty::load(skel.get()) != 0) {
    throw std::runtime_error(std::string("load BPF programs: ") + std::strerror(errno) +
                             " (run as root; -v shows libbpf's log)");
  }

  std::vector<LinkPtr> links;
  std::string names;
  for (const std::string& lib : libs) {
    for (const tlstap::loader::UprobeHook& hook :
         tlstap::loader::hooks_for(Inspect(lib, exported))) {
      if (hook.entry) links.push_back(Attach(skel->progs.empty_enter, lib, hook.offset, false));
      if (hook.exit) links.push_back(Attach(skel->progs.empty_exit, lib, hook.offset, true));
    }
    names += (names.empty() ? "" : ", ") + lib;
  }
  if (syscalls) {
    links.emplace_back(bpf_program__attach(skel->progs.empty_sys_enter));
    if (!links.back()) throw std::runtime_error("attach tp_btf/sys_enter failed");
  }

  std::fprintf(stderr, "floor: attached %zu probes to %s\n", links.size(), names.c_str());
  std::fflush(stderr);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> libs;
  bool exported = false;
  bool syscalls = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-v") {
      verbose = true;
    } else if (arg == "--exported") {
      exported = true;
    } else if (arg == "--syscalls") {
      syscalls = true;
    } else if (arg == "-h" || arg == "--help" || arg.starts_with("-")) {
      std::fprintf(stderr, "usage: floor_probes [-v] [--exported] [--syscalls] [FILE...]\n");
      return 2;
    } else {
      libs.emplace_back(arg);
    }
  }
  libbpf_set_print(PrintLibbpf);
  try {
    if (libs.empty()) libs.push_back(FindLibssl());
    return Run(libs, exported, syscalls);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "floor_probes: %s\n", e.what());
    return 1;
  }
}
