#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <optional>
#include <system_error>

#include "bpf/tlstap.h"
#include "discovery/file_util.h"
#include "discovery/targets.h"

namespace tlstap::discovery {
namespace {

std::optional<FileId> stat_file_id(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return std::nullopt;
  return FileId{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
}

bool is_probeable_mapping(const Mapping& m) {
  return m.perms.size() == 4 && m.perms[2] == 'x' && m.path.starts_with('/') &&
         !m.path.ends_with(" (deleted)");
}

}  // namespace

std::vector<Target*> Inventory::scan_all() {
  std::vector<Target*> added;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(proc_root_, ec), end; !ec && it != end;
       it.increment(ec)) {
    std::string name = it->path().filename().string();
    pid_t pid = 0;
    auto [ptr, parse_ec] = std::from_chars(name.data(), name.data() + name.size(), pid);
    if (parse_ec != std::errc() || ptr != name.data() + name.size() || pid <= 0) continue;
    std::vector<Target*> found = scan_pid(pid);
    added.insert(added.end(), found.begin(), found.end());
  }
  for (const std::string& path : read_ld_cache()) {
    std::optional<FileId> id = stat_file_id(path);
    if (!id) continue;  // stale cache entry
    if (Target* target = consider(*id, path, path, 0)) added.push_back(target);
  }
  return added;
}

std::vector<FileId> Inventory::known() const {
  std::vector<FileId> ids(not_tls_.begin(), not_tls_.end());
  for (const auto& [id, t] : targets_) ids.push_back(id);
  for (const auto& [id, why] : failures_) ids.push_back(id);
  return ids;
}

std::vector<Target*> Inventory::scan_pid(pid_t pid) {
  // tlstap's own mappings (libcurl for --otlp brings libssl and libgnutls)
  // are not targets: the probes never trace tlstap itself.
  if (pid == self_) return {};
  std::string text;
  // The process may have exited, or be hidden from us; neither is an error.
  if (!internal::read_file_to_string(proc_root_ + "/" + std::to_string(pid) + "/maps", &text)) {
    return {};
  }
  return scan_mappings(pid, parse_maps(text));
}

std::vector<Target*> Inventory::scan_mappings(pid_t pid, const std::vector<Mapping>& maps) {
  std::vector<Target*> added;
  std::set<FileId> seen;
  const std::string root = proc_root_ + "/" + std::to_string(pid) + "/root";
  if (auto runtime = unhooked_runtime(maps)) {
    unhooked_[pid] = std::move(*runtime);
  } else {
    unhooked_.erase(pid);
  }
  for (const Mapping& m : maps) {
    if (!is_probeable_mapping(m)) continue;
    FileId id{static_cast<uint64_t>(makedev(m.dev_major, m.dev_minor)), m.inode};
    if (!seen.insert(id).second) continue;
    if (Target* target = consider(id, m.path, root + m.path, pid)) added.push_back(target);
  }
  return added;
}

// `pid` is 0 for files no process was seen mapping (the linker cache).
bool Inventory::scan_mapped_fd(pid_t pid, int fd, const FileId& id,
                               const std::function<void(const Target&)>& attach) {
  std::string proc_dir = proc_root_ + "/" + std::to_string(pid);
  std::string their_fd =
      fd == TLSTAP_MAPPED_EXE ? proc_dir + "/exe" : proc_dir + "/fd/" + std::to_string(fd);
  std::error_code ec;
  std::string path = std::filesystem::read_symlink(their_fd, ec).string();
  if (ec) return false;
  // Our own descriptor: the dynamic linker closes its own right after mmap,
  // and the file must stay reachable until the probes are attached.
  int own = ::open(their_fd.c_str(), O_RDONLY | O_CLOEXEC);
  if (own < 0) return false;
  std::string held = "/proc/self/fd/" + std::to_string(own);
  if (stat_file_id(held) != id) {
    close(own);
    return false;
  }
  if (Target* target = consider(id, path, held, pid)) {
    attach(*target);
    target->open_path = proc_dir + "/root" + path;
  }
  close(own);
  return knows(id);
}

Target* Inventory::consider(const FileId& id, const std::string& path, const std::string& open_path,
                            pid_t pid) {
  auto known = [&](const FileId& key) -> bool {
    if (auto it = targets_.find(key); it != targets_.end()) {
      if (pid > 0) it->second.pids.insert(pid);
      return true;
    }
    return not_tls_.contains(key) || failures_.contains(key);
  };
  if (known(id)) return nullptr;

  // Through /proc/PID/root, stat() can disagree with maps (overlayfs reports
  // its own device). The maps identity stays the key, but a file already
  // known under its stat identity (say, from the linker cache) is the same file.
  std::optional<FileId> stat_id = stat_file_id(open_path);
  if (stat_id && *stat_id != id && known(*stat_id)) return nullptr;

  Result<std::optional<Target>> inspected = inspect_file(open_path, &plans_);
  if (!inspected) {
    // A process exiting between its maps and its files is routine, and says
    // nothing about the file: leave it to be inspected through another process.
    std::string proc_dir = proc_root_ + "/" + std::to_string(pid);
    if (pid > 0 && !stat_file_id(proc_dir)) return nullptr;
    failures_.emplace(id, std::move(inspected.error().message));
    return nullptr;
  }
  if (!inspected->has_value()) {
    not_tls_.insert(id);
    return nullptr;
  }
  Target& target = targets_.emplace(id, std::move(**inspected)).first->second;
  target.id = id;
  target.path = path;
  target.open_path = open_path;
  if (pid > 0) target.pids.insert(pid);
  return &target;
}

}  // namespace tlstap::discovery
