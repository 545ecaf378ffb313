#include "loader/ktls.h"

#include <sys/utsname.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>
#include <vector>

namespace tlstap::loader {
namespace {

namespace fs = std::filesystem;

// The function every kTLS capture starts from.
constexpr char kSendmsg[] = "tls_sw_sendmsg";

bool path_exists(const fs::path& p) {
  std::error_code ec;
  return fs::exists(p, ec);
}

// The base directory kmod's own MODPROBE_OPTIONS gives modprobe (-d DIR,
// --dirname DIR or --dirname=DIR), or "".
std::string modprobe_base_dir(std::string_view options) {
  std::istringstream words{std::string(options)};
  std::string word;
  while (words >> word) {
    if (word.starts_with("--dirname=")) return word.substr(std::strlen("--dirname="));
    if (word == "-d" || word == "--dirname") {
      std::string dir;
      return words >> dir ? dir : "";
    }
  }
  return "";
}

// A tls module file for this kernel (tls.ko, tls.ko.xz, tls.ko.zst, ...)
// where modprobe run from here would look: /lib/modules/RELEASE, or under
// the base directory MODPROBE_OPTIONS names (the vm tier's guests keep their
// kernel's modules there).
bool tls_module_file_exists(const fs::path& root, const std::string& release,
                            std::string_view modprobe_options) {
  std::vector<fs::path> bases = {root};
  if (std::string dir = modprobe_base_dir(modprobe_options); !dir.empty()) {
    bases.push_back(root / fs::path(dir).relative_path());
  }
  for (const fs::path& base : bases) {
    std::error_code ec;
    for (const auto& entry :
         fs::directory_iterator(base / "lib/modules" / release / "kernel/net/tls", ec)) {
      if (entry.path().filename().string().starts_with("tls.ko")) return true;
    }
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

KtlsSupport ktls_support(const std::string& root_dir, const std::string& release,
                         std::string_view modprobe_options) {
  fs::path root(root_dir);
  if (!path_exists(root / "sys/bus/event_source/devices/kprobe/type")) {
    return {KtlsSupport::kUnavailable,
            "this kernel has no kprobes (CONFIG_KPROBE_EVENTS is off; "
            "/sys/bus/event_source/devices/kprobe is missing)"};
  }
  if (kernel_symbols({kSendmsg}, (root / "proc/kallsyms").string()).contains(kSendmsg)) {
    return {KtlsSupport::kReady, ""};
  }
  if (tls_module_file_exists(root, release, modprobe_options)) {
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
  const char* modprobe_options = getenv("MODPROBE_OPTIONS");
  return ktls_support("/", u.release, modprobe_options ? modprobe_options : "");
}

bool tls_module_loaded(const std::string& root) {
  return path_exists(fs::path(root) / "sys/module/tls");
}

}  // namespace tlstap::loader
