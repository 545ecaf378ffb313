// Kernel TLS (kTLS): whether this kernel lets tlstap probe its TLS layer,
// and where. The probes themselves are attached by Probes::attach_ktls.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>

namespace tlstap::loader {

// Addresses of the named kernel symbols (module symbols included) that
// /proc/kallsyms lists; names it lacks are absent from the result.
std::map<std::string, uint64_t> kernel_symbols(const std::set<std::string>& names,
                                               const std::string& kallsyms = "/proc/kallsyms");

struct KtlsSupport {
  enum State {
    kReady,          // the tls module's functions are there to probe
    kWaitingModule,  // kprobes work; the tls module is not loaded yet
    kUnavailable,    // no kprobes, or no kernel TLS at all
  } state = kUnavailable;
  std::string why;  // kWaitingModule, kUnavailable: one line saying why
};

// root is "/" except in tests, which point it at a fake tree (sys/, proc/,
// lib/modules/). kernel_release is uname -r; modprobe_options the value of
// MODPROBE_OPTIONS, whose -d DIR is another place the tls module may be.
KtlsSupport ktls_support(const std::string& root, const std::string& kernel_release,
                         std::string_view modprobe_options = "");
KtlsSupport ktls_support();

// True once the tls module is loaded (cheap: one stat, for polling).
bool tls_module_loaded(const std::string& root = "/");

}  // namespace tlstap::loader
