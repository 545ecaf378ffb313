// Attaching: discovery (what TLS code this host runs) to the loader (the
// probes on it). At start every library and Go program mapped anywhere;
// while running, each file a process maps or execs that tlstap has not
// seen, on a thread of its own so the event loop never waits for an
// inspection (a keyprobe run, a large Go program); the kernel's TLS once
// its module is there. It also answers --list and says what is not hooked.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <ostream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "capture/events.h"
#include "discovery/targets.h"
#include "keys/key_service.h"
#include "loader/hooks.h"
#include "loader/ktls.h"
#include "loader/probes.h"

namespace tlstap::engine {

class Attacher {
 public:
  using Clock = std::chrono::steady_clock;

  // stacks: the TLS stacks to hook; libraries of the others are listed,
  // not hooked. keys (null: none): libraries get their secrets' layout
  // and Go programs a probe on (*tls.Config).writeKeyLog; secrets_only
  // (tlstap keys): Go programs get only that probe.
  Attacher(loader::Probes& probes, bool verbose, std::set<discovery::LibKind> stacks,
           keys::KeyService* keys, bool secrets_only);
  ~Attacher();  // stop()
  Attacher(const Attacher&) = delete;
  Attacher& operator=(const Attacher&) = delete;

  // Finds and attaches to every TLS library present now. Returns how many
  // are attached in all.
  int attach_existing();

  // Kernel TLS: attaches its probes now if the tls module is loaded, or
  // watches for the module while running (watch_ktls). When kTLS capture
  // is unavailable (no kprobes, no kernel TLS) says why in one line and
  // returns false.
  bool start_ktls(const loader::KtlsSupport& support);
  // "kTLS (N probes)", "kTLS (waiting for the tls module)", "" when off.
  std::string ktls_summary() const;

  // tlstap --list: every TLS library found, the processes that map it,
  // and whether its probes are attached or why not; then the files that
  // could not be inspected.
  void list(std::ostream& out) const;
  // The processes --pid or --comm names that run a runtime whose TLS
  // tlstap does not hook (Java): one line each to out, since nothing of
  // theirs will be shown. Call after attach_existing().
  void say_unhooked(const loader::Filters& filters, std::ostream& out) const;
  // --hold-new: how many processes were held, how long, and how many not.
  void say_holds(std::ostream& out) const;

  // While the engine runs: start() the attach thread; on_file_mapped()
  // queues a notice for it (the event loop's only part); watch_ktls() on
  // the event loop waits for the tls module; stop() has every queued
  // notice handled (a held process is continued once attached), then
  // ends the thread.
  void start();
  void on_file_mapped(const capture::FileMappedEvent& m);
  void watch_ktls(Clock::time_point now);
  void stop();

  int targets_attached() const { return targets_attached_; }
  uint64_t late_attaches() const { return late_attaches_; }
  // Libraries whose secrets can be read, Go programs with a key probe.
  int key_libraries() const { return key_files_used_; }
  int key_go_programs() const { return key_go_programs_; }

 private:
  struct Rescan {
    pid_t pid;
    std::string comm;
    discovery::FileId file;
    Clock::time_point mapped, deadline;
  };
  enum class KtlsState { kOff, kWaiting, kAttached };
  struct Holds {
    uint64_t held = 0;     // stopped and continued by tlstap once attached
    uint64_t expired = 0;  // continued by the watchdog first (held past the limit)
    uint64_t refused = 0;  // not stoppable (a pid namespace's init) or map full
    double total_ms = 0, longest_ms = 0;
  };

  // Returns how many of targets are now attached.
  int attach(const std::vector<const discovery::Target*>& targets);
  void attach_loop();
  void attach_mapped(const capture::FileMappedEvent& m);
  void end_hold(const capture::FileMappedEvent& m);
  void process_rescans(Clock::time_point now);
  bool attach_ktls();
  void report_failure(const discovery::FileId& id) const;
  // held: --hold-new stopped the process until now.
  void report_late_attach(pid_t pid, const std::string& comm, const discovery::Target& t,
                          Clock::time_point mapped, bool held = false);
  // The secret offsets of a library: its key-file slot, or 0 (said why).
  uint32_t key_file_for(const discovery::Target& t);
  // A Go program's keys: its writeKeyLog probe added to *hooks (in place
  // of them when secrets_only_). False, said why, when it has none.
  bool add_go_key_hooks(const discovery::Target& t, std::vector<loader::UprobeHook>* hooks);

  loader::Probes& probes_;
  const bool verbose_;
  const std::set<discovery::LibKind> stacks_;
  keys::KeyService* const keys_;
  const bool secrets_only_;

  // Once start() ran, the attach thread alone uses inventory_, rescans_,
  // attach_status_, holds_ and the key file slots; the loop only queues
  // notices.
  discovery::Inventory inventory_;
  std::deque<Rescan> rescans_;
  // Per target file: "attached N probes", or why not.
  std::map<discovery::FileId, std::string> attach_status_;
  Holds holds_;
  int key_files_used_ = 0;
  int key_go_programs_ = 0;
  std::atomic<int> targets_attached_{0};
  std::atomic<uint64_t> late_attaches_{0};

  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<capture::FileMappedEvent> mapped_;  // guarded by mu_
  bool stop_ = false;                            // guarded by mu_

  // The event loop's: the kTLS module watch.
  KtlsState ktls_ = KtlsState::kOff;
  std::string ktls_status_;  // for --list: functions probed, or why not
  std::vector<std::string> ktls_functions_;
  Clock::time_point next_ktls_check_{};
};

}  // namespace tlstap::engine
