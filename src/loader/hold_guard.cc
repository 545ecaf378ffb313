#include "loader/hold_guard.h"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

namespace tlstap::loader {
namespace {

// held_pids' size in bpf/maps.bpf.h.
constexpr int kMaxHeld = 4096;
// How often the watchdog looks for processes held too long.
constexpr int kSweepMs = 100;

uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);  // bpf_ktime_get_ns()'s clock
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// Closes every descriptor but keep[0..1] (ascending) and 0-2, which become /dev/null.
void close_all_but(int a, int b) {
  if (a > b) std::swap(a, b);
  if (a > 3) close_range(3, a - 1, 0);
  if (b > a + 1) close_range(a + 1, b - 1, 0);
  close_range(b + 1, ~0u, 0);
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    for (int fd = 0; fd < 3; ++fd) dup2(null, fd);
    if (null > 2 && null != a && null != b) close(null);
  }
}

[[noreturn]] void guard(int held_pids_fd, int parent_fd, std::chrono::milliseconds limit) {
  prctl(PR_SET_NAME, "tlstap-hold");
  // Ctrl-C and the like reach the whole process group: tlstap ends, and
  // this child then continues what it held.
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGTSTP}) signal(sig, SIG_IGN);
  close_all_but(held_pids_fd, parent_fd);
  const auto min_age = std::chrono::duration_cast<std::chrono::nanoseconds>(limit);
  for (;;) {
    pollfd p{.fd = parent_fd, .events = POLLIN, .revents = 0};
    int ready = poll(&p, 1, kSweepMs);
    if (ready > 0) break;  // tlstap exited
    if (ready < 0 && errno != EINTR) break;
    continue_held(held_pids_fd, min_age);
  }
  // Its probes are gone with it; one that fired just before may have held
  // a process it never reported.
  continue_held(held_pids_fd, std::chrono::nanoseconds(0));
  usleep(kSweepMs * 1000);
  continue_held(held_pids_fd, std::chrono::nanoseconds(0));
  _exit(0);
}

}  // namespace

int continue_held(int held_pids_fd, std::chrono::nanoseconds min_age) {
  uint32_t keys[kMaxHeld];
  int n = 0;
  uint32_t key = 0;
  uint32_t* prev = nullptr;
  while (n < kMaxHeld && bpf_map_get_next_key(held_pids_fd, prev, &key) == 0) {
    keys[n++] = key;
    prev = &keys[n - 1];
  }
  const uint64_t now = monotonic_ns();
  int continued = 0;
  for (int i = 0; i < n; ++i) {
    uint64_t since = 0;
    if (bpf_map_lookup_elem(held_pids_fd, &keys[i], &since) != 0) continue;
    if (since + static_cast<uint64_t>(min_age.count()) > now) continue;
    if (bpf_map_delete_elem(held_pids_fd, &keys[i]) != 0) continue;  // continued already
    if (kill(static_cast<pid_t>(keys[i]), SIGCONT) == 0) ++continued;
  }
  return continued;
}

Result<pid_t> start_hold_guard(int held_pids_fd, std::chrono::milliseconds limit) {
  int self = static_cast<int>(syscall(SYS_pidfd_open, getpid(), 0));
  if (self < 0) {
    return fail(ExitCode::kFailure,
                std::string("--hold-new: cannot watch tlstap's own process (pidfd_open: ") +
                    strerror(errno) + ")");
  }
  pid_t pid = fork();
  if (pid == 0) guard(held_pids_fd, self, limit);
  const int fork_errno = errno;
  close(self);
  if (pid < 0) {
    return fail(ExitCode::kFailure,
                std::string("--hold-new: cannot start its watchdog: ") + strerror(fork_errno));
  }
  return pid;
}

}  // namespace tlstap::loader
