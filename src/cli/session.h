// A capture session: keeps the probes attached to every TLS library the host
// uses (now and as new ones are mapped), turns records into events and hands
// them to the exporter.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <set>
#include <thread>
#include <vector>

#include "capture/pipeline.h"
#include "capture/stats.h"
#include "cli/records.h"
#include "discovery/targets.h"
#include "export/exporter.h"
#include "export/otlp/sender.h"
#include "export/prometheus/metrics.h"
#include "keys/key_log_file.h"
#include "keys/key_log_set.h"
#include "keys/openssl_secrets.h"
#include "loader/ktls.h"
#include "loader/probes.h"
#include "packets/packet_capture.h"

namespace tlstap::cli {

class Session {
 public:
  // stacks: the TLS stacks to hook; libraries of the others are listed, not hooked.
  Session(loader::Probes& probes, exporting::Exporter& exporter, bool verbose,
          std::set<discovery::LibKind> stacks);

  // TLS secrets: every OpenSSL file attached from now on has its secret
  // offsets found by keyprobe (tlstap-keyprobe), every Go program gets a
  // probe on (*tls.Config).writeKeyLog, and each session's key log lines go
  // to file, or to *out when file is null. secrets_only (tlstap keys): Go
  // programs get only that probe. Call before attaching.
  void enable_keys(std::string keyprobe, std::unique_ptr<keys::KeyLogFile> file, std::ostream* out,
                   bool secrets_only);
  // Key log lines written, and how many libraries' and Go programs' secrets can be read.
  uint64_t key_lines_written() const { return key_lines_; }
  int key_libraries() const { return key_files_used_; }
  int key_go_programs() const { return key_go_programs_; }

  // --records: events also go to HTTP/1 reassembly and pairing, whose
  // records go to the exporter; the events themselves too if show_events.
  void enable_records(bool show_events);
  // --metrics: records are made (whether shown or not) and counted in
  // *metrics, and the statistics published to it once a second, from the
  // session's thread (Metrics locks; the HTTP server's threads only read).
  void enable_metrics(exporting::Metrics* metrics);
  // --otlp: records are made (whether shown or not) and each handed to
  // *sender as a span (it queues; its own thread sends).
  void enable_otlp(exporting::otlp::Sender* sender);

  // -w FILE.pcapng: packets go to *capture (owned by the caller), which
  // learns connections from the TLS events (not shown) and gets every key
  // log line. Call enable_keys too.
  void enable_packets(packets::PacketCapture* capture);
  // The packet file could not be written (said why; the session stopped).
  bool packets_failed() const { return packets_failed_; }
  // The exporter's output (or the key log file) failed otherwise than by its
  // reader going away (EPIPE, a normal stop): disk full, I/O error. Said
  // why; the session stopped; tlstap exits 1.
  bool output_failed() const;
  bool keys_failed() const { return keys_failed_; }

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
  // The processes --pid or --comm names that run a runtime whose TLS tlstap
  // does not hook (Java): one line each to out, since nothing of theirs
  // will be shown. Call after attach_existing().
  void say_unhooked(const loader::Filters& filters, std::ostream& out) const;

  // --hold-new: how many processes were held, how long, and how many not.
  void say_holds(std::ostream& out) const;

  // Runs until *stop is set; then drains what the kernel still holds.
  // stats_interval: print statistics that often (none if nullopt).
  void run(const std::atomic<bool>& stop, std::optional<std::chrono::seconds> stats_interval);

  capture::Stats snapshot() const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Rescan {
    pid_t pid;
    std::string comm;
    discovery::FileId file;
    Clock::time_point mapped, deadline;
  };

  // Returns how many of targets are now attached.
  int attach(const std::vector<const discovery::Target*>& targets);
  void report_failure(const discovery::FileId& id) const;
  // held: --hold-new stopped the process until now.
  void report_late_attach(pid_t pid, const std::string& comm, const discovery::Target& t,
                          Clock::time_point mapped, bool held = false);
  void on_file_mapped(const capture::FileMappedEvent& m);
  void attach_mapped(const capture::FileMappedEvent& m);
  void end_hold(const capture::FileMappedEvent& m);
  void process_rescans(Clock::time_point now);
  bool attach_ktls();
  // The secret offsets of an OpenSSL file: its key-file slot, or 0 (said why).
  uint32_t key_file_for(const discovery::Target& t);
  Result<tlstap_ssl_offsets> key_offsets_for(const discovery::Target& t);
  void on_secrets(const capture::SecretsEvent& e);
  // counts_session: false for a record that completes a session counted
  // by another (BoringSSL's handshake secrets, read during its handshake).
  void write_session_lines(const capture::SecretsEvent& e,
                           const Result<std::vector<keys::KeyLogLine>>& lines, bool counts_session);
  void on_event(const capture::DataEvent& e);
  // Whether the exporter's output failed; says why, once.
  bool output_stopped();
  bool output_failure_said_ = false;
  // A Go program's keys: its writeKeyLog probe added to *hooks (in place
  // of them when secrets_only_). False, said why, when it has none.
  bool add_go_key_hooks(const discovery::Target& t, std::vector<loader::UprobeHook>* hooks);
  void on_logged_secret(const capture::LoggedSecretEvent& e);
  // Counts secrets that could not become key log lines; says why with -v.
  void secrets_unusable(pid_t pid, const std::string& comm, const std::string& why);
  // Writes a key log line once; false when the file failed (said why).
  bool write_key_line(const keys::KeyLogLine& line);

  enum class KtlsState { kOff, kWaiting, kAttached };

  struct Holds {
    uint64_t held = 0;     // stopped and continued by tlstap once attached
    uint64_t expired = 0;  // continued by the watchdog first (held past the limit)
    uint64_t refused = 0;  // not stoppable (a pid namespace's init) or map full
    double total_ms = 0, longest_ms = 0;
  };
  Holds holds_;

  loader::Probes& probes_;
  exporting::Exporter& exporter_;
  bool verbose_;
  discovery::Inventory inventory_;
  capture::Pipeline pipeline_;
  std::deque<Rescan> rescans_;
  // --records (enable_records)
  std::unique_ptr<Records> records_;
  bool show_events_ = true;
  bool show_records_ = false;
  void make_records();
  // --metrics (enable_metrics)
  exporting::Metrics* metrics_ = nullptr;
  // --otlp (enable_otlp)
  exporting::otlp::Sender* otlp_ = nullptr;
  Clock::time_point next_metrics_{};
  Clock::time_point next_record_expiry_{};
  std::set<discovery::LibKind> stacks_;
  // Per target file: "attached N probes", or why not.
  std::map<discovery::FileId, std::string> attach_status_;
  KtlsState ktls_ = KtlsState::kOff;
  std::string ktls_status_;  // for --list: functions probed, or why not
  std::vector<std::string> ktls_functions_;
  Clock::time_point next_ktls_check_{};
  std::atomic<int> targets_attached_{0};
  std::atomic<uint64_t> late_attaches_{0};

  // While run() runs, files that appear are inspected and attached on a
  // thread of its own (attach_loop), so the event loop never waits for
  // them (a keyprobe run, a large Go program). From then on that thread
  // alone uses inventory_, rescans_, attach_status_, holds_ and the key
  // file slots; the loop only queues the notices.
  void attach_loop();
  std::thread attacher_;
  std::mutex attach_mu_;
  std::condition_variable attach_cv_;
  std::deque<capture::FileMappedEvent> mapped_;  // guarded by attach_mu_
  bool attach_stop_ = false;                     // guarded by attach_mu_
  // -w FILE.pcapng (enable_packets)
  packets::PacketCapture* packets_ = nullptr;
  bool packets_failed_ = false;
  // Says why the packet file failed, once; the session then stops.
  void fail_packets(const Error& e);
  // TLS secrets (enable_keys)
  bool keys_ = false;
  bool keys_failed_ = false;  // the key log file could not be written (said why; stopped)
  bool secrets_only_ = false;
  int key_go_programs_ = 0;
  std::string keyprobe_;
  std::unique_ptr<keys::KeyLogFile> key_file_;
  std::ostream* key_out_ = nullptr;
  keys::KeyLogSet key_lines_seen_;  // for key_out_ (the file keeps its own)
  keys::HmacFn hmac_;
  int key_files_used_ = 0;
  uint64_t key_lines_ = 0, key_sessions_ = 0, key_sessions_unusable_ = 0;
};

}  // namespace tlstap::cli
