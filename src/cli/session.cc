#include "cli/session.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "keys/final_secrets.h"
#include "keys/hmac_openssl.h"
#include "keys/ssl_offsets.h"
#include "loader/hooks.h"
#include "util/process_memory.h"

namespace tlstap::cli {
namespace {

// How long a call missing chunks may wait for them once the ring is drained.
constexpr auto kMaxCallIdle = std::chrono::milliseconds(200);
// How long a newly mapped file may take to show up in /proc/PID/maps, and
// how often it is looked for meanwhile.
constexpr auto kRescanWindow = std::chrono::seconds(1);
constexpr auto kRescanPoll = std::chrono::milliseconds(10);
// How often to look for the tls module while waiting for it.
constexpr auto kKtlsModuleCheck = std::chrono::milliseconds(200);
// How often records give up old holes and close idle connections.
constexpr auto kRecordExpiry = std::chrono::seconds(1);
// How often --metrics gets fresh statistics (the counters' age at a scrape).
constexpr auto kMetricsPublish = std::chrono::seconds(1);

uint64_t realtime_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The command name of a running process ("" if it is gone).
std::string comm_of(pid_t pid) {
  std::string comm;
  std::ifstream("/proc/" + std::to_string(pid) + "/comm") >> comm;
  return comm;
}

bool process_gone(pid_t pid) { return access(("/proc/" + std::to_string(pid)).c_str(), F_OK) != 0; }

}  // namespace

Session::Session(loader::Probes& probes, exporting::Exporter& exporter, bool verbose,
                 std::set<discovery::LibKind> stacks)
    : probes_(probes),
      exporter_(exporter),
      verbose_(verbose),
      pipeline_(
          capture::realtime_offset_ns(), [this](const capture::DataEvent& e) { on_event(e); },
          [this](const capture::FileMappedEvent& m) { on_file_mapped(m); },
          [this](const capture::SecretsEvent& e) { on_secrets(e); },
          [this](const capture::LoggedSecretEvent& e) { on_logged_secret(e); }),
      stacks_(std::move(stacks)) {}

void Session::enable_records(bool show_events) {
  show_records_ = true;
  show_events_ = show_events;
  make_records();
}

void Session::enable_metrics(exporting::Metrics* metrics) {
  metrics_ = metrics;
  make_records();
}

void Session::enable_otlp(exporting::otlp::Sender* sender) {
  otlp_ = sender;
  make_records();
}

// One record path, whoever wants its records: shown (--records), counted
// (--metrics), sent as spans (--otlp), or all of them.
void Session::make_records() {
  if (records_) return;
  records_ = std::make_unique<Records>([this](const protocols::Record& r) {
    if (show_records_) exporter_.on_record(r);
    if (metrics_) metrics_->add(r);
    if (otlp_) otlp_->add(r);
  });
  pipeline_.set_conn_end_handler(
      [this](const capture::ConnEndEvent& e) { records_->close(e.conn_id); });
}

void Session::enable_packets(packets::PacketCapture* capture) {
  packets_ = capture;
  show_events_ = false;
  pipeline_.set_packet_handler([this](const capture::PacketEvent& p) {
    if (packets_failed_) return;
    if (auto r = packets_->on_packet(p); !r) fail_packets(r.error());
  });
}

void Session::fail_packets(const Error& e) {
  if (packets_failed_) return;
  packets_failed_ = true;
  std::cerr << "tlstap: " << e.message << "; stopping\n";
}

void Session::on_event(const capture::DataEvent& e) {
  if (packets_) packets_->on_data(e);
  if (show_events_) exporter_.on_data(e);
  if (records_) records_->add(e);
}

void Session::enable_keys(std::string keyprobe, std::unique_ptr<keys::KeyLogFile> file,
                          std::ostream* out, bool secrets_only) {
  keys_ = true;
  secrets_only_ = secrets_only;
  keyprobe_ = std::move(keyprobe);
  key_file_ = std::move(file);
  key_out_ = out;
  hmac_ = keys::openssl_hmac();
}

// The build's secret offsets as the probes take them, or why there are none.
Result<tlstap_ssl_offsets> Session::key_offsets_for(const discovery::Target& t) {
  constexpr uint32_t kNone = TLSTAP_NO_OFFSET;
  if (t.kind == discovery::LibKind::kGnuTls || t.kind == discovery::LibKind::kBoringSsl) {
    auto found = t.kind == discovery::LibKind::kGnuTls
                     ? keys::find_gnutls_offsets(keyprobe_, t.open_path)
                     : keys::find_boringssl_offsets(keyprobe_, t.open_path);
    if (!found) return std::unexpected(found.error());
    auto off = [](uint32_t v) { return v == keys::kNoOffset ? kNone : v; };
    const keys::FinalOffsets& o = *found;
    return tlstap_ssl_offsets{.valid = 1,
                              .version = o.version,
                              .client_random = o.client_random,
                              .session = off(o.master_key_ptr),
                              .master_key = o.master_key,
                              .handshake_secret = kNone,
                              .handshake_traffic_hash = kNone,
                              .client_finished_secret = kNone,
                              .client_app_secret = off(o.client_app_secret),
                              .server_app_secret = off(o.server_app_secret),
                              .exporter_secret = off(o.exporter_secret),
                              .layout = TLSTAP_KEYS_FINAL,
                              .version_ptr = off(o.version_ptr),
                              .tls13_version = o.tls13_version,
                              .hash_len_ptr = off(o.hash_len_ptr),
                              .hash_len = o.hash_len,
                              .client_hs_secret = off(o.client_hs_secret),
                              .server_hs_secret = off(o.server_hs_secret),
                              .secrets_ptr = off(o.secrets_ptr),
                              .version_bytes = o.version_bytes,
                              .hash_len_bytes = o.hash_len_bytes,
                              .role = o.role,
                              .role_mask = o.role_mask,
                              .handshake_ptr = off(o.handshake_ptr)};
  }
  auto found = keys::find_ssl_offsets(keyprobe_, t.open_path);
  if (!found) return std::unexpected(found.error());
  const keys::SslOffsets& o = *found;
  return tlstap_ssl_offsets{.valid = 1,
                            .version = o.version,
                            .client_random = o.client_random,
                            .session = o.session,
                            .master_key = o.master_key,
                            .handshake_secret = o.handshake_secret,
                            .handshake_traffic_hash = o.handshake_traffic_hash,
                            .client_finished_secret = o.client_finished_secret,
                            .client_app_secret = o.client_app_secret,
                            .server_app_secret = o.server_app_secret,
                            .exporter_secret = o.exporter_secret,
                            .layout = TLSTAP_KEYS_OPENSSL,
                            .version_ptr = kNone,
                            .tls13_version = TLSTAP_TLS13_VERSION,
                            .hash_len_ptr = kNone,
                            .hash_len = kNone,
                            .client_hs_secret = kNone,
                            .server_hs_secret = kNone,
                            .secrets_ptr = kNone,
                            .version_bytes = 4,
                            .hash_len_bytes = 4,
                            .role = 0,
                            .role_mask = 0,
                            .handshake_ptr = kNone};
}

uint32_t Session::key_file_for(const discovery::Target& t) {
  if (!keys_ || (t.kind != discovery::LibKind::kOpenSsl && t.kind != discovery::LibKind::kGnuTls &&
                 t.kind != discovery::LibKind::kBoringSsl)) {
    return 0;
  }
  auto offsets = key_offsets_for(t);
  if (!offsets) {
    std::string build_id = keys::read_build_id(t.open_path);
    std::cerr << "tlstap: keys: cannot locate secrets in " << t.path << " (build id "
              << (build_id.empty() ? "none" : build_id) << "): " << offsets.error().message
              << "; its sessions' keys are not written, their plaintext still is\n";
    return 0;
  }
  uint32_t slot = static_cast<uint32_t>(key_files_used_) + 1;
  if (auto r = probes_.set_ssl_offsets(slot, *offsets); !r) {
    std::cerr << "tlstap: keys: " << t.path << ": " << r.error().message << "\n";
    return 0;
  }
  ++key_files_used_;
  if (verbose_) std::cerr << "tlstap: keys: secrets of " << t.path << " located\n";
  return slot;
}

void Session::secrets_unusable(pid_t pid, const std::string& comm, const std::string& why) {
  ++key_sessions_unusable_;
  if (verbose_) {
    std::cerr << "tlstap: keys: pid " << pid << " (" << comm << "): secrets not written: " << why
              << "\n";
  }
}

void Session::on_secrets(const capture::SecretsEvent& e) {
  if (!keys_) return;
  if (e.final_secrets) {
    keys::FinalSecrets f;
    f.tls13 = e.version == TLSTAP_TLS13_VERSION;
    f.client_random = e.client_random;
    f.master_key = e.master_key;
    f.hash_len = e.hash_len;
    f.client_hs_secret = e.client_hs_secret;
    f.server_hs_secret = e.server_hs_secret;
    f.client_app_secret = e.client_app_secret;
    f.server_app_secret = e.server_app_secret;
    f.exporter_secret = e.exporter_secret;
    write_session_lines(e, keys::final_key_log_lines(f), !e.handshake_only);
    return;
  }
  keys::OpenSslSecrets s;
  s.version = e.version;
  s.client_random = e.client_random;
  s.master_key = e.master_key;
  s.handshake_secret = e.handshake_secret;
  s.handshake_traffic_hash = e.handshake_traffic_hash;
  s.client_finished_secret = e.client_finished_secret;
  s.client_app_secret = e.client_app_secret;
  s.server_app_secret = e.server_app_secret;
  s.exporter_secret = e.exporter_secret;
  write_session_lines(e, keys::openssl_key_log_lines(s, hmac_), true);
}

void Session::write_session_lines(const capture::SecretsEvent& e,
                                  const Result<std::vector<keys::KeyLogLine>>& lines,
                                  bool counts_session) {
  if (!lines) {
    secrets_unusable(e.pid, e.comm, lines.error().message);
    return;
  }
  if (counts_session) ++key_sessions_;
  for (const keys::KeyLogLine& line : *lines) {
    if (!write_key_line(line)) return;
  }
}

// Go hands over each secret final, one line per call; the first line of a
// session counts it (both ends in one process log it twice: written once).
void Session::on_logged_secret(const capture::LoggedSecretEvent& e) {
  if (!keys_) return;
  std::string label = e.label;
  if (e.label_addr) {
    // A label constant the program had not paged in: read it from the
    // process (it lives: it is inside writeKeyLog, or just left it).
    auto read = read_process_memory(e.pid, e.label_addr, std::min<size_t>(e.label_len, 32));
    if (!read) {
      secrets_unusable(e.pid, e.comm,
                       "its label was not readable in the probe: " + read.error().message);
      return;
    }
    label = std::move(*read);
  }
  auto line = keys::logged_key_log_line(label, e.label_len, e.client_random, e.random_len, e.secret,
                                        e.secret_len);
  if (!line) {
    secrets_unusable(e.pid, e.comm, line.error().message);
    return;
  }
  const uint64_t before = key_lines_;
  if (!write_key_line(*line)) return;
  if (key_lines_ > before && (line->label == keys::SecretLabel::kClientRandom ||
                              line->label == keys::SecretLabel::kClientHandshakeTrafficSecret)) {
    ++key_sessions_;
  }
}

bool Session::write_key_line(const keys::KeyLogLine& line) {
  if (packets_ && !packets_failed_) {
    if (auto r = packets_->on_key_line(line); !r) fail_packets(r.error());
    // Counted here when no key log file counts it.
    if (!key_file_ && key_lines_seen_.insert(line)) ++key_lines_;
  }
  if (key_file_) {
    auto written = key_file_->write(line);
    if (!written) {
      if (!keys_failed_) std::cerr << "tlstap: " << written.error().message << "; stopping\n";
      keys_failed_ = true;
      return false;
    }
    key_lines_ += *written;
  } else if (key_out_ && !key_out_->bad() && key_lines_seen_.insert(line)) {
    *key_out_ << keys::format_key_log_line(line) << std::flush;
    if (key_out_->bad()) return false;  // the exporter's output: the session says why
    ++key_lines_;
  }
  return true;
}

namespace {

// The name of a process that just mapped a file: the task's command name
// as the probe saw it, else /proc/PID/comm, else the file's name (a process
// gone by now, or a notice before the exec set the name).
std::string name_of(pid_t pid, const std::string& comm, const std::string& path) {
  if (!comm.empty()) return comm;
  if (std::string now = comm_of(pid); !now.empty()) return now;
  return std::filesystem::path(path).filename().string();
}

}  // namespace

namespace {

// The moment of the mmap or exec itself, on the probes' clock (both
// CLOCK_MONOTONIC): what the process had before the probes were in place.
std::chrono::steady_clock::time_point mapped_at(const capture::FileMappedEvent& m) {
  if (m.mono_ns == 0) return std::chrono::steady_clock::now();
  return std::chrono::steady_clock::time_point{std::chrono::nanoseconds(m.mono_ns)};
}

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

void Session::on_file_mapped(const capture::FileMappedEvent& m) {
  {
    std::lock_guard lock(attach_mu_);
    mapped_.push_back(m);
  }
  attach_cv_.notify_one();
}

void Session::attach_loop() {
  std::unique_lock lock(attach_mu_);
  while (true) {
    // The notice comes during mmap(): a file not in maps yet is looked for again soon.
    attach_cv_.wait_for(lock, rescans_.empty() ? std::chrono::milliseconds(1000) : kRescanPoll,
                        [this] { return attach_stop_ || !mapped_.empty(); });
    while (!mapped_.empty()) {
      capture::FileMappedEvent m = std::move(mapped_.front());
      mapped_.pop_front();
      lock.unlock();
      attach_mapped(m);
      end_hold(m);
      lock.lock();
    }
    if (attach_stop_) return;  // every notice handled
    if (!rescans_.empty()) {
      lock.unlock();
      process_rescans(Clock::now());
      lock.lock();
    }
  }
}

// Called from inside the ring-buffer callback: the process is running on
// towards its first TLS call while we attach (unless --hold-new stopped
// it), so take the shortest path.
void Session::attach_mapped(const capture::FileMappedEvent& m) {
  discovery::FileId id{m.dev, m.ino};
  if (inventory_.knows(id)) return;
  const Clock::time_point mapped = mapped_at(m);
  const auto noticed = Clock::now();
  bool known = inventory_.scan_mapped_fd(m.pid, m.fd, id, [&](const discovery::Target& t) {
    const auto inspected = Clock::now();
    if (!attach({&t})) return;
    report_late_attach(m.pid, name_of(m.pid, m.comm, t.path), t, mapped,
                       m.hold == TLSTAP_HOLD_STOPPED);
    if (verbose_) {
      auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
      char line[256];
      snprintf(line, sizeof(line),
               "tlstap: pid %d: noticed %.1f ms after the exec or mmap, file inspected in %.1f "
               "ms, probes attached in %.1f ms\n",
               m.pid, ms(noticed - mapped), ms(inspected - noticed), ms(Clock::now() - inspected));
      std::cerr << line;
    }
  });
  if (!known) {
    if (process_gone(m.pid)) {
      // Nothing reached the file: let the probes report its next run.
      probes_.forget_file(id.dev, id.ino);
    } else {
      rescans_.push_back({m.pid, m.comm, id, mapped, Clock::now() + kRescanWindow});
    }
  }
  report_failure(id);
}

// --hold-new: the file is inspected and attached; the process goes on.
void Session::end_hold(const capture::FileMappedEvent& m) {
  if (m.hold == TLSTAP_HOLD_NONE || m.hold == TLSTAP_HOLD_OWN_CHILD) return;
  const std::string comm = m.comm.empty() ? comm_of(m.pid) : m.comm;
  char line[512];
  if (m.hold != TLSTAP_HOLD_STOPPED) {
    ++holds_.refused;
    if (verbose_) {
      snprintf(line, sizeof(line), "tlstap: pid %d (%s) could not be held: %s\n", m.pid,
               comm.c_str(),
               m.hold == TLSTAP_HOLD_INIT
                   ? "the first process of a pid namespace (a container's init) ignores SIGSTOP"
                   : "too many processes held, or the signal was refused");
      std::cerr << line;
    }
    return;
  }
  const double ms = ms_since(mapped_at(m));
  if (!probes_.continue_process(m.pid)) {
    // The watchdog continued it (or it was killed while held, and then
    // nothing was missed; the two look the same from here).
    ++holds_.expired;
    snprintf(line, sizeof(line),
             "tlstap: pid %d (%s) was held past the --hold-new limit and went on before tlstap "
             "got to it (%.1f ms after it mapped the file): TLS calls it made before its probes "
             "were in place, if any, are not shown\n",
             m.pid, comm.c_str(), ms);
    std::cerr << line;
    return;
  }
  ++holds_.held;
  holds_.total_ms += ms;
  holds_.longest_ms = std::max(holds_.longest_ms, ms);
  if (verbose_) {
    snprintf(line, sizeof(line), "tlstap: pid %d (%s) held for %.1f ms, then continued\n", m.pid,
             comm.c_str(), ms);
    std::cerr << line;
  }
}

void Session::say_holds(std::ostream& out) const {
  char line[512];
  snprintf(line, sizeof(line),
           "tlstap: --hold-new held processes %llu times at a new file, %.1f ms in all (longest "
           "%.1f ms); %llu continued by the limit before their probes were in place; %llu could "
           "not be held\n",
           static_cast<unsigned long long>(holds_.held), holds_.total_ms, holds_.longest_ms,
           static_cast<unsigned long long>(holds_.expired),
           static_cast<unsigned long long>(holds_.refused));
  out << line;
}

// -v names every file that could not be inspected, when it is first seen.
void Session::report_failure(const discovery::FileId& id) const {
  if (!verbose_) return;
  if (auto it = inventory_.failures().find(id); it != inventory_.failures().end()) {
    std::cerr << "tlstap: " << it->second << "\n";
  }
}

// A library that appears while tlstap runs is probed only once it is
// attached; the process may already have used it. Say so: we cannot know.
void Session::report_late_attach(pid_t pid, const std::string& comm, const discovery::Target& t,
                                 Clock::time_point mapped, bool held) {
  ++late_attaches_;
  auto ms = std::chrono::duration<double, std::milli>(Clock::now() - mapped).count();
  char line[512];
  snprintf(line, sizeof(line),
           "tlstap: pid %d (%s) loaded %s while tlstap ran; probes were in "
           "place %.1f ms later: %s\n",
           pid, comm.c_str(), t.path.c_str(), ms,
           held ? "it was held (--hold-new) until then, nothing it did is missed"
                : "TLS calls it made before then, if any, are not shown");
  std::cerr << line;
}

bool Session::add_go_key_hooks(const discovery::Target& t, std::vector<loader::UprobeHook>* hooks) {
  std::vector<loader::UprobeHook> key_hooks = loader::key_hooks_for(t);
  if (secrets_only_) hooks->clear();
  if (key_hooks.empty()) {
    std::cerr << "tlstap: keys: Go program " << t.path << " (Go " << t.version
              << ") has no crypto/tls.(*Config).writeKeyLog (inlined or left out): its sessions' "
                 "keys are not written"
              << (secrets_only_ ? "" : ", their plaintext still is") << "\n";
    return false;
  }
  hooks->insert(hooks->end(), key_hooks.begin(), key_hooks.end());
  return true;
}

int Session::attach(const std::vector<const discovery::Target*>& targets) {
  int attached = 0;
  for (const discovery::Target* t : targets) {
    if (!t->not_probed.empty()) {
      attach_status_[t->id] = "not attached: " + t->not_probed;
      if (verbose_) {
        std::cerr << "tlstap: not attaching to " << t->path << " ("
                  << discovery::lib_kind_name(t->kind) << " " << t->version
                  << "): " << t->not_probed << "\n";
      }
      continue;
    }
    if (!stacks_.contains(t->kind)) {
      attach_status_[t->id] =
          "off (--no-" + std::string(discovery::lib_kind_name(t->kind)) + " or --lib)";
      continue;
    }
    // Code in an NSS libssl3 file marks a descriptor's layer as SSL's.
    if (t->kind == discovery::LibKind::kNss && discovery::nss_probe_points(*t).import_fd) {
      if (auto r = probes_.add_nss_ssl_file(t->id.dev, t->id.ino); !r) {
        std::cerr << "tlstap: " << t->path << ": " << r.error().message << "\n";
      }
    }
    std::vector<loader::UprobeHook> hooks = loader::hooks_for(*t);
    bool go_keys = false;
    if (keys_ && t->kind == discovery::LibKind::kGo) {
      go_keys = add_go_key_hooks(*t, &hooks);
      if (hooks.empty()) {
        attach_status_[t->id] = "not attached: no crypto/tls.(*Config).writeKeyLog to read at";
        continue;
      }
    }
    const uint32_t key_file = key_file_for(*t);
    if (key_file && t->kind == discovery::LibKind::kBoringSsl) {
      std::vector<loader::UprobeHook> key_hooks = loader::key_hooks_for(*t);
      hooks.insert(hooks.end(), key_hooks.begin(), key_hooks.end());
    }
    auto n = probes_.attach_library(t->open_path, hooks, loader::lib_code(t->kind), key_file);
    if (!n) {
      std::cerr << "tlstap: skipping " << t->path << ": " << n.error().message << "\n";
      attach_status_[t->id] = "not attached: " + n.error().message;
      continue;
    }
    attach_status_[t->id] = "attached " + std::to_string(*n) + (*n == 1 ? " probe" : " probes");
    if (go_keys) ++key_go_programs_;
    ++targets_attached_;
    ++attached;
    if (verbose_) {
      std::cerr << "tlstap: attached " << *n << " probes to " << t->path << " ("
                << discovery::lib_kind_name(t->kind) << " " << t->version << ", " << t->pids.size()
                << " processes)\n";
    }
  }
  return attached;
}

int Session::attach_existing() {
  auto found = inventory_.scan_all();
  attach({found.begin(), found.end()});
  // Inspected already: the probes need not report them (nor hold a
  // process that maps one, with --hold-new).
  for (const discovery::FileId& id : inventory_.known()) probes_.mark_seen(id.dev, id.ino);
  if (verbose_) {
    for (const auto& [id, why] : inventory_.failures()) std::cerr << "tlstap: " << why << "\n";
  }
  return targets_attached_;
}

bool Session::attach_ktls() {
  auto hooked = probes_.attach_ktls();
  if (!hooked) {
    ktls_ = KtlsState::kOff;
    ktls_status_ = "unavailable: " + hooked.error().message;
    std::cerr << "tlstap: kTLS capture unavailable: " << hooked.error().message << "\n";
    return false;
  }
  ktls_ = KtlsState::kAttached;
  ktls_functions_ = hooked->functions;
  ktls_status_ = hooked->hook + " on";
  for (const std::string& f : ktls_functions_) ktls_status_ += " " + f;
  if (!hooked->fentry_failure.empty()) {
    std::cerr << "tlstap: kTLS through kprobes: fentry/fexit did not work here: "
              << hooked->fentry_failure << "\n";
  }
  std::cerr << "tlstap: kTLS capture on: " << ktls_status_ << "\n";
  return true;
}

bool Session::start_ktls(const loader::KtlsSupport& support) {
  switch (support.state) {
    case loader::KtlsSupport::kReady:
      return attach_ktls();
    case loader::KtlsSupport::kWaitingModule:
      ktls_ = KtlsState::kWaiting;
      ktls_status_ = "waiting: " + support.why;
      std::cerr << "tlstap: kTLS capture starts when the tls module loads: " << support.why << "\n";
      return true;
    case loader::KtlsSupport::kUnavailable:
      break;
  }
  ktls_status_ = "unavailable: " + support.why;
  std::cerr << "tlstap: kTLS capture unavailable: " << support.why << "\n";
  return false;
}

std::string Session::ktls_summary() const {
  switch (ktls_) {
    case KtlsState::kAttached:
      return "kTLS (" + std::to_string(ktls_functions_.size()) + " kernel functions)";
    case KtlsState::kWaiting:
      return "kTLS (once the tls module loads)";
    case KtlsState::kOff:
      break;
  }
  return "";
}

namespace {

// "pid 1234 (java) runs Java (/usr/lib/jvm/.../libjvm.so), whose TLS (JSSE)
// tlstap does not hook"
std::string unhooked_line(pid_t pid, const std::string& comm,
                          const discovery::UnhookedRuntime& runtime) {
  return "pid " + std::to_string(pid) + " (" + comm + ") runs " + runtime.name + " (" +
         runtime.evidence + "), whose TLS (" + runtime.tls + ") tlstap does not hook";
}

}  // namespace

void Session::say_unhooked(const loader::Filters& filters, std::ostream& out) const {
  if (filters.pids.empty() && filters.comms.empty()) return;
  for (const auto& [pid, runtime] : inventory_.unhooked()) {
    const std::string comm = comm_of(pid);
    if (comm.empty()) continue;  // gone
    const bool named =
        std::find(filters.pids.begin(), filters.pids.end(), pid) != filters.pids.end() ||
        std::find(filters.comms.begin(), filters.comms.end(), comm) != filters.comms.end();
    if (named) {
      out << "tlstap: " << unhooked_line(pid, comm, runtime)
          << ": its TLS traffic will not be shown\n";
    }
  }
}

void Session::list(std::ostream& out) const {
  const auto& targets = inventory_.targets();
  if (targets.empty()) out << "no TLS library found\n";
  for (const auto& [id, t] : targets) {
    auto status = attach_status_.find(id);
    out << t.path << "\n  " << discovery::lib_kind_name(t.kind)
        << (t.version.empty() ? "" : " " + t.version) << "; "
        << (status != attach_status_.end() ? status->second : std::string("not attached")) << "; "
        << t.pids.size() << (t.pids.size() == 1 ? " process" : " processes");
    size_t shown = 0;
    for (pid_t pid : t.pids) {
      if (shown++ == 8) {
        out << " ...";
        break;
      }
      out << (shown == 1 ? ": " : ", ") << pid << " (" << comm_of(pid) << ")";
    }
    out << "\n";
  }
  for (const auto& [id, why] : inventory_.failures()) out << "not inspected: " << why << "\n";
  for (const auto& [pid, runtime] : inventory_.unhooked()) {
    const std::string comm = comm_of(pid);
    if (comm.empty()) continue;  // gone
    out << "not hooked: " << unhooked_line(pid, comm, runtime)
        << ": its TLS traffic is not shown\n";
  }
  if (!ktls_status_.empty()) out << "kernel TLS (kTLS): " << ktls_status_ << "\n";
}

void Session::process_rescans(Clock::time_point now) {
  // The notice comes during mmap(): the mapping may not be in maps yet.
  for (size_t n = rescans_.size(); n > 0; --n) {
    Rescan r = rescans_.front();
    rescans_.pop_front();
    if (inventory_.knows(r.file)) continue;
    for (const discovery::Target* t : inventory_.scan_pid(r.pid)) {
      if (attach({t}) && t->pids.contains(r.pid)) {
        report_late_attach(r.pid, name_of(r.pid, r.comm, t->path), *t, r.mapped);
      }
    }
    report_failure(r.file);
    if (inventory_.knows(r.file)) continue;
    if (now < r.deadline && !process_gone(r.pid)) {
      rescans_.push_back(r);
    } else {
      probes_.forget_file(r.file.dev, r.file.ino);
    }
  }
}

capture::Stats Session::snapshot() const {
  capture::Stats s = pipeline_.user_stats();
  s.set_kernel(probes_.read_counters());
  s.targets_attached = targets_attached_;
  s.probes_attached = probes_.attached_probes();
  s.late_attaches = late_attaches_;
  s.key_sessions = key_sessions_;
  s.key_sessions_unusable = key_sessions_unusable_;
  exporter_.add_unwritten(&s);
  if (records_) records_->add_stats(&s);
  if (otlp_) {
    const exporting::otlp::SenderStats o = otlp_->stats();
    s.otlp_enabled = true;
    s.otlp_spans_sent = o.sent;
    s.otlp_spans_dropped = o.dropped;
    s.otlp_spans_failed = o.failed;
    s.otlp_failed_posts = o.failed_posts;
  }
  return s;
}

void Session::run(const std::atomic<bool>& stop,
                  std::optional<std::chrono::seconds> stats_interval) {
  auto handler = [this](std::span<const uint8_t> bytes) {
    pipeline_.on_record(bytes, Clock::now());
  };
  auto next_stats = Clock::now() + stats_interval.value_or(std::chrono::seconds(0));
  attacher_ = std::thread(&Session::attach_loop, this);
  while (!stop.load(std::memory_order_relaxed)) {
    int n = probes_.poll(100, handler);
    if (n < 0 && n != -EINTR) {
      std::cerr << "tlstap: reading the ring buffer failed (" << n << "); stopping\n";
      break;
    }
    auto now = Clock::now();
    if (ktls_ == KtlsState::kWaiting && now >= next_ktls_check_) {
      next_ktls_check_ = now + kKtlsModuleCheck;
      if (loader::tls_module_loaded() &&
          loader::ktls_support().state == loader::KtlsSupport::kReady && attach_ktls()) {
        std::cerr << "tlstap: the tls module was loaded: kTLS capture is on (kTLS data sent "
                     "before this moment is not shown)\n";
      }
    }
    pipeline_.flush(now, kMaxCallIdle);
    if (records_ && now >= next_record_expiry_) {
      records_->expire(realtime_now_ns());
      next_record_expiry_ = now + kRecordExpiry;
    }
    if (packets_ && !packets_failed_) {
      if (auto r = packets_->tick(realtime_now_ns()); !r) fail_packets(r.error());
    }
    if (packets_failed_) break;
    if (keys_failed_) break;
    exporter_.flush();
    if (output_stopped()) break;
    if (stats_interval && now >= next_stats) {
      exporter_.on_stats(snapshot(), false);
      next_stats = now + *stats_interval;
    }
    if (metrics_ && now >= next_metrics_) {
      metrics_->set_stats(snapshot());
      next_metrics_ = now + kMetricsPublish;
    }
  }
  // Drain: everything the kernel emitted before the probes go away; then
  // the files noticed so far (a held process is continued once attached).
  while (probes_.poll(0, handler) > 0) {
  }
  {
    std::lock_guard lock(attach_mu_);
    attach_stop_ = true;
  }
  attach_cv_.notify_one();
  attacher_.join();
  pipeline_.flush(Clock::now(), Clock::duration::zero());
  if (packets_ && !packets_failed_) {
    if (auto r = packets_->finish(); !r) fail_packets(r.error());
  }
  // The last connections' messages: a request still waiting for its
  // response, a response delimited by the connection's end.
  if (records_) records_->close_all();
  exporter_.flush();
  output_stopped();
  if (metrics_) metrics_->set_stats(snapshot());
}

bool Session::output_stopped() {
  if (!exporter_.failed()) return false;
  if (!output_failure_said_) {
    output_failure_said_ = true;
    const int err = exporter_.error();
    if (err == EPIPE) {
      std::cerr << "tlstap: the reader of " << exporter_.output_name() << " went away; stopping\n";
    } else {
      std::cerr << "tlstap: cannot write " << exporter_.output_name() << ": "
                << (err ? strerror(err) : "write failed") << "; stopping\n";
    }
  }
  return true;
}

bool Session::output_failed() const { return exporter_.failed() && exporter_.error() != EPIPE; }

}  // namespace tlstap::cli
