#include "keys/ssl_offsets.h"

#include <elf.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <charconv>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <sstream>
#include <vector>

#include "util/private_file.h"

extern char** environ;

namespace tlstap::keys {
namespace {

struct Field {
  const char* name;
  uint32_t SslOffsets::*member;
};

constexpr Field kFields[] = {
    {"version", &SslOffsets::version},
    {"client_random", &SslOffsets::client_random},
    {"session", &SslOffsets::session},
    {"master_key", &SslOffsets::master_key},
    {"handshake_secret", &SslOffsets::handshake_secret},
    {"handshake_traffic_hash", &SslOffsets::handshake_traffic_hash},
    {"client_finished_secret", &SslOffsets::client_finished_secret},
    {"client_app_secret", &SslOffsets::client_app_secret},
    {"server_app_secret", &SslOffsets::server_app_secret},
    {"exporter_secret", &SslOffsets::exporter_secret},
};

// The helper runs two handshakes in memory: well under a second anywhere.
constexpr auto kHelperTimeout = std::chrono::seconds(10);

}  // namespace

std::string format_offsets(const SslOffsets& o) {
  std::string out;
  for (const Field& f : kFields)
    out += std::string(f.name) + " " + std::to_string(o.*f.member) + "\n";
  return out;
}

Result<std::map<std::string, std::string>> read_helper_lines(std::string_view text) {
  std::map<std::string, std::string> values;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("error ")) return fail(ExitCode::kFailure, line.substr(6));
    auto space = line.find(' ');
    if (space == std::string::npos) continue;
    values[line.substr(0, space)] = line.substr(space + 1);
  }
  return values;
}

Result<SslOffsets> parse_offsets(std::string_view text) {
  auto lines = read_helper_lines(text);
  if (!lines) return std::unexpected(lines.error());
  std::map<std::string, uint32_t> seen;
  for (const auto& [name, value_text] : *lines) {
    uint32_t value = 0;
    const char* last = value_text.data() + value_text.size();
    auto [ptr, ec] = std::from_chars(value_text.data(), last, value);
    if (ec != std::errc() || ptr != last) continue;
    seen[name] = value;
  }
  SslOffsets o;
  for (const Field& f : kFields) {
    auto it = seen.find(f.name);
    if (it == seen.end()) {
      return fail(ExitCode::kFailure, std::string("the helper did not report ") + f.name);
    }
    o.*f.member = it->second;
  }
  return o;
}

std::string read_build_id(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return "";
  auto read_at = [&](void* buf, size_t n, off_t off) {
    return pread(fd.get(), buf, n, off) == static_cast<ssize_t>(n);
  };
  Elf64_Ehdr eh;
  if (!read_at(&eh, sizeof(eh), 0) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
      eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr)) {
    return "";
  }
  for (int i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    if (!read_at(&ph, sizeof(ph), eh.e_phoff + i * sizeof(ph))) return "";
    if (ph.p_type != PT_NOTE || ph.p_filesz > 65536) continue;
    std::vector<uint8_t> notes(ph.p_filesz);
    if (!read_at(notes.data(), notes.size(), ph.p_offset)) return "";
    for (size_t pos = 0; pos + sizeof(Elf64_Nhdr) <= notes.size();) {
      Elf64_Nhdr nh;
      memcpy(&nh, notes.data() + pos, sizeof(nh));
      size_t name_at = pos + sizeof(nh);
      size_t desc_at = name_at + ((nh.n_namesz + 3) & ~3u);
      size_t next = desc_at + ((nh.n_descsz + 3) & ~3u);
      if (next > notes.size()) break;
      if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
          memcmp(notes.data() + name_at, "GNU", 4) == 0) {
        static constexpr char kHex[] = "0123456789abcdef";
        std::string id;
        for (size_t j = 0; j < nh.n_descsz; ++j) {
          id += kHex[notes[desc_at + j] >> 4];
          id += kHex[notes[desc_at + j] & 15];
        }
        return id;
      }
      pos = next;
    }
  }
  return "";
}

// Runs helper with args and returns its standard output (bounded, timed).
Result<std::string> run_keyprobe(const std::string& helper, const std::vector<std::string>& args) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0)
    return fail(ExitCode::kFailure, "pipe: " + std::string(strerror(errno)));
  UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  // A library tlstap reaches through one of its own descriptors
  // (/proc/self/fd/N, a file mapped while it runs) is, for the helper,
  // /proc/<tlstap's pid>/fd/N: the helper inherits no descriptor.
  std::vector<std::string> translated;
  for (const std::string& a : args) {
    translated.push_back(
        a.starts_with("/proc/self/") ? "/proc/" + std::to_string(getpid()) + a.substr(10) : a);
  }
  std::vector<char*> argv = {const_cast<char*>(helper.c_str())};
  for (const std::string& a : translated) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  char* envp[] = {nullptr};  // no OPENSSL_CONF, SSLKEYLOGFILE, LD_PRELOAD of ours
  pid_t pid = 0;
  int err = posix_spawn(&pid, helper.c_str(), &actions, nullptr, argv.data(), envp);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) {
    return fail(ExitCode::kFailure, "cannot run " + helper + ": " + strerror(err));
  }
  write_end.reset();
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + kHelperTimeout;
  bool timed_out = false;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{read_end.get(), POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) < 0 && errno != EINTR) break;
    char buf[4096];
    ssize_t n = read(read_end.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (out.size() < 65536) out.append(buf, n);
  }
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) return fail(ExitCode::kFailure, "the helper took too long");
  if (WIFSIGNALED(status)) {
    return fail(ExitCode::kFailure,
                std::string("the helper died of ") + strsignal(WTERMSIG(status)) +
                    (out.find("error ") != std::string::npos ? "" : " while loading the library"));
  }
  return out;
}

Result<SslOffsets> find_ssl_offsets(const std::string& helper, const std::string& path) {
  static std::mutex mutex;
  static std::map<std::string, Result<SslOffsets>> by_build_id;
  std::string build_id = read_build_id(path);
  std::lock_guard lock(mutex);
  if (!build_id.empty()) {
    if (auto it = by_build_id.find(build_id); it != by_build_id.end()) return it->second;
  }
  auto out = run_keyprobe(helper, {path});
  Result<SslOffsets> found = out ? parse_offsets(*out) : std::unexpected(out.error());
  if (!build_id.empty()) by_build_id.emplace(build_id, found);
  return found;
}

std::string default_keyprobe_path() {
  std::array<char, 4096> self{};
  ssize_t n = readlink("/proc/self/exe", self.data(), self.size() - 1);
  std::string dir = n > 0 ? std::string(self.data(), n) : std::string();
  auto slash = dir.rfind('/');
  dir = slash == std::string::npos ? "." : dir.substr(0, slash);
  return dir + "/tlstap-keyprobe";
}

}  // namespace tlstap::keys
