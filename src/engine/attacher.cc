#include "engine/attacher.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "keys/ssl_offsets.h"
#include "loader/hooks.h"

namespace tlstap::engine {
namespace {

// How long a newly mapped file may take to show up in /proc/PID/maps, and
// how often it is looked for meanwhile.
constexpr auto kRescanWindow = std::chrono::seconds(1);
constexpr auto kRescanPoll = std::chrono::milliseconds(10);
// How often to look for the tls module while waiting for it.
constexpr auto kKtlsModuleCheck = std::chrono::milliseconds(200);

// The command name of a running process ("" if it is gone).
std::string comm_of(pid_t pid) {
  std::string comm;
  std::ifstream("/proc/" + std::to_string(pid) + "/comm") >> comm;
  return comm;
}

bool process_gone(pid_t pid) { return access(("/proc/" + std::to_string(pid)).c_str(), F_OK) != 0; }

// The name of a process that just mapped a file: the task's command name
// as the probe saw it, else /proc/PID/comm, else the file's name (a process
// gone by now, or a notice before the exec set the name).
std::string name_of(pid_t pid, const std::string& comm, const std::string& path) {
  if (!comm.empty()) return comm;
  if (std::string now = comm_of(pid); !now.empty()) return now;
  return std::filesystem::path(path).filename().string();
}

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

Attacher::Attacher(loader::Probes& probes, bool verbose, std::set<discovery::LibKind> stacks,
                   keys::KeyService* keys, bool secrets_only)
    : probes_(probes),
      verbose_(verbose),
      stacks_(std::move(stacks)),
      keys_(keys),
      secrets_only_(secrets_only) {}

Attacher::~Attacher() { stop(); }

void Attacher::start() { thread_ = std::thread(&Attacher::attach_loop, this); }

void Attacher::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

void Attacher::on_file_mapped(const capture::FileMappedEvent& m) {
  {
    std::lock_guard lock(mu_);
    mapped_.push_back(m);
  }
  cv_.notify_one();
}

void Attacher::attach_loop() {
  std::unique_lock lock(mu_);
  while (true) {
    // The notice comes during mmap(): a file not in maps yet is looked for again soon.
    cv_.wait_for(lock, rescans_.empty() ? std::chrono::milliseconds(1000) : kRescanPoll,
                 [this] { return stop_ || !mapped_.empty(); });
    while (!mapped_.empty()) {
      capture::FileMappedEvent m = std::move(mapped_.front());
      mapped_.pop_front();
      lock.unlock();
      attach_mapped(m);
      end_hold(m);
      lock.lock();
    }
    if (stop_) return;  // every notice handled
    if (!rescans_.empty()) {
      lock.unlock();
      process_rescans(Clock::now());
      lock.lock();
    }
  }
}

// On the attach thread, as soon as the notice is queued: the process is
// running on towards its first TLS call while we attach (unless
// --hold-new stopped it), so take the shortest path.
void Attacher::attach_mapped(const capture::FileMappedEvent& m) {
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
void Attacher::end_hold(const capture::FileMappedEvent& m) {
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

void Attacher::say_holds(std::ostream& out) const {
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
void Attacher::report_failure(const discovery::FileId& id) const {
  if (!verbose_) return;
  if (auto it = inventory_.failures().find(id); it != inventory_.failures().end()) {
    std::cerr << "tlstap: " << it->second << "\n";
  }
}

// A library that appears while tlstap runs is probed only once it is
// attached; the process may already have used it. Say so: we cannot know.
void Attacher::report_late_attach(pid_t pid, const std::string& comm, const discovery::Target& t,
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

uint32_t Attacher::key_file_for(const discovery::Target& t) {
  if (!keys_ || !keys::KeyService::reads_objects(t.kind)) return 0;
  auto offsets = keys_->offsets_for(t);
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

bool Attacher::add_go_key_hooks(const discovery::Target& t,
                                std::vector<loader::UprobeHook>* hooks) {
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

int Attacher::attach(const std::vector<const discovery::Target*>& targets) {
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

int Attacher::attach_existing() {
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

bool Attacher::attach_ktls() {
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

bool Attacher::start_ktls(const loader::KtlsSupport& support) {
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

std::string Attacher::ktls_summary() const {
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

void Attacher::watch_ktls(Clock::time_point now) {
  if (ktls_ != KtlsState::kWaiting || now < next_ktls_check_) return;
  next_ktls_check_ = now + kKtlsModuleCheck;
  if (loader::tls_module_loaded() && loader::ktls_support().state == loader::KtlsSupport::kReady &&
      attach_ktls()) {
    std::cerr << "tlstap: the tls module was loaded: kTLS capture is on (kTLS data sent "
                 "before this moment is not shown)\n";
  }
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

void Attacher::say_unhooked(const loader::Filters& filters, std::ostream& out) const {
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

void Attacher::list(std::ostream& out) const {
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

void Attacher::process_rescans(Clock::time_point now) {
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

}  // namespace tlstap::engine
