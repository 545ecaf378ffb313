#include "loader/ktls.h"

#include <sys/utsname.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace tlstap::loader {
namespace {

namespace fs = std::filesystem;

// The function every kTLS capture starts from.
constexpr char kSendmsg[] = "tls_sw_sendmsg";

bool path_exists(const fs::path& p) {
  std::error_code ec;
  return fs::exists(p, ec);
}

// A tls module file for this kernel (tls.ko, tls.ko.xz, tls.ko.zst, ...).
bool tls_module_file_exists(const fs::path& root, const std::string& release) {
  fs::path dir = root / "lib/modules" / release / "kernel/net/tls";
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().filename().string().starts_with("tls.ko")) return true;
  }
  return false;
}

}  // namespace

std::map<std::string, uint64_t> kernel_symbols(const std::set<std::string>& names,
                                               const std::string& kallsyms) {
  std::map<std::string, uint64_t> found;
  std::ifstream in(kallsyms);
  std::string line;
  // "ffffffffc0a01230 t tls_sw_sendmsg\t[tls]"
  while (found.size() < names.size() && std::getline(in, line)) {
    size_t name_at = line.find(' ', line.find(' ') + 1);
    if (name_at == std::string::npos) continue;
    size_t name_end = line.find_first_of("\t ", name_at + 1);
    std::string name = line.substr(name_at + 1, name_end - name_at - 1);
    if (!names.contains(name) || found.contains(name)) continue;
    found[name] = std::stoull(line.substr(0, line.find(' ')), nullptr, 16);
  }
  return found;
}

KtlsSupport ktls_support(const std::string& root_dir, const std::string& release) {
  fs::path root(root_dir);
  if (!path_exists(root / "sys/bus/event_source/devices/kprobe/type")) {
    return {KtlsSupport::kUnavailable,
            "this kernel has no kprobes (CONFIG_KPROBE_EVENTS is off; "
            "/sys/bus/event_source/devices/kprobe is missing)"};
  }
  if (kernel_symbols({kSendmsg}, (root / "proc/kallsyms").string()).contains(kSendmsg)) {
    return {KtlsSupport::kReady, ""};
  }
  if (tls_module_file_exists(root, release)) {
    return {KtlsSupport::kWaitingModule,
            "the tls module is not loaded yet (it loads on a program's first kTLS use, or "
            "`modprobe tls`)"};
  }
  return {KtlsSupport::kUnavailable,
          "this kernel has no kernel TLS (CONFIG_TLS is off and there is no tls module in "
          "/lib/modules/" +
              release + ")"};
}

KtlsSupport ktls_support() {
  utsname u{};
  uname(&u);
  return ktls_support("/", u.release);
}

bool tls_module_loaded(const std::string& root) {
  return path_exists(fs::path(root) / "sys/module/tls");
}

}  // namespace tlstap::loader
