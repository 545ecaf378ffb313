// A capture session: keeps the probes attached to every TLS library the host
// uses (now and as new ones are mapped), turns records into events and hands
// them to the exporter.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <vector>

#include "capture/pipeline.h"
#include "capture/stats.h"
#include "discovery/targets.h"
#include "export/exporter.h"
#include "loader/ktls.h"
#include "loader/probes.h"

namespace tlstap::cli {

class Session {
 public:
  // stacks: the TLS stacks to hook; libraries of the others are listed, not hooked.
  Session(loader::Probes& probes, exporting::Exporter& exporter, bool verbose,
          std::set<discovery::LibKind> stacks);

  // Finds and attaches to every TLS library present now. Returns how many
  // are attached in all.
  int attach_existing();

  // Kernel TLS: attaches its probes now if the tls module is loaded, or
  // watches for the module while running. When kTLS capture is unavailable
  // (no kprobes, no kernel TLS) says why in one line and returns false.
  bool start_ktls(const loader::KtlsSupport& support);
  // "kTLS (N probes)", "kTLS (waiting for the tls module)", "" when off.
  std::string ktls_summary() const;

  // tlstap --list: every TLS library found, the processes that map it, and
  // whether its probes are attached or why not; then the files that could
  // not be inspected.
  void list(std::ostream& out) const;

  // Runs until *stop is set; then drains what the kernel still holds.
  // stats_interval: print statistics that often (none if nullopt).
  void run(const std::atomic<bool>& stop, std::optional<std::chrono::seconds> stats_interval);

  capture::Stats snapshot() const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Rescan {
    pid_t pid;
    discovery::FileId file;
    Clock::time_point noticed, deadline;
  };

  // Returns how many of targets are now attached.
  int attach(const std::vector<const discovery::Target*>& targets);
  void report_late_attach(pid_t pid, const discovery::Target& t, Clock::time_point noticed);
  void on_file_mapped(const capture::FileMappedEvent& m);
  void process_rescans(Clock::time_point now);
  bool attach_ktls();

  enum class KtlsState { kOff, kWaiting, kAttached };

  loader::Probes& probes_;
  exporting::Exporter& exporter_;
  bool verbose_;
  discovery::Inventory inventory_;
  capture::Pipeline pipeline_;
  std::deque<Rescan> rescans_;
  std::set<discovery::LibKind> stacks_;
  // Per target file: "attached N probes", or why not.
  std::map<discovery::FileId, std::string> attach_status_;
  KtlsState ktls_ = KtlsState::kOff;
  std::string ktls_status_;  // for --list: functions probed, or why not
  std::vector<std::string> ktls_functions_;
  Clock::time_point next_ktls_check_{};
  int targets_attached_ = 0;
  uint64_t late_attaches_ = 0;
};

}  // namespace tlstap::cli
