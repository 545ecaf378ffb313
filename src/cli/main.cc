// tlstap: TLS plaintext, live, from eBPF probes on the libraries that
// encrypt it.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <iostream>
#include <memory>

#include "cli/options.h"
#include "cli/outputs.h"
#include "engine/attacher.h"
#include "engine/engine.h"
#include "export/text/table.h"
#include "keys/key_service.h"
#include "keys/ssl_offsets.h"
#include "loader/preflight.h"
#include "loader/probes.h"

namespace {

std::atomic<bool> g_stop{false};

void on_signal(int) { g_stop.store(true); }

int die(const tlstap::Error& e) {
  std::cerr << "tlstap: " << e.message << "\n";
  return static_cast<int>(e.code);
}

// --otlp's failures come from its sender thread: one write(2) each, so
// a line is never split by the engine's or the attach thread's.
void write_stderr(const std::string& line) {
  for (size_t done = 0; done < line.size();) {
    ssize_t n = write(STDERR_FILENO, line.data() + done, line.size() - done);
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;  // no SA_RESTART: the poll returns at once
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a closed pipe ends output, not the process
}

}  // namespace

int main(int argc, char** argv) {
  using namespace tlstap;
  auto options = cli::parse_options(argc, argv);
  if (!options) return die(options.error());
  if (options->help) {
    std::cout << cli::usage_text();
    return 0;
  }
  if (options->version) {
    std::cout << "tlstap " TLSTAP_VERSION "\n";
    return 0;
  }
  // std::cerr stays synchronized with stdio (the default): the engine's
  // thread and the attach thread both say things on it.
  if (auto ok = cli::check_pids(options->filters.pids); !ok) return die(ok.error());

  if (auto ok = loader::check_privileges(); !ok) return die(ok.error());
  if (auto ok = loader::check_kernel(); !ok) return die(ok.error());

  auto outputs = cli::Outputs::open(*options, write_stderr);
  if (!outputs) return die(outputs.error());
  cli::Outputs& out = **outputs;
  const bool keys = out.keys();

  const loader::KtlsSupport ktls_support =
      options->ktls ? loader::ktls_support()
                    : loader::KtlsSupport{loader::KtlsSupport::kUnavailable, "--no-ktls"};
  // The kTLS programs are verified only where they can be attached: on this
  // kind of host they were ~13 % of start-up's verifier work for nothing.
  auto probes = loader::Probes::make(
      {.filters = options->filters,
       .ring_bytes = options->ring_bytes,
       .verbose = options->verbose,
       .syscall_hook = options->syscall_hook,
       .ktls = options->ktls && ktls_support.state != loader::KtlsSupport::kUnavailable,
       .ktls_fentry = !options->ktls_kprobes,
       .keys_only = options->keys_only,
       .packet_ring_bytes = out.packets() ? options->ring_bytes : 0,
       .ports = options->ports,
       .tc_clsact = options->tc_clsact,
       .hold_new = options->hold_new_ms.has_value(),
       .hold_limit = std::chrono::milliseconds(options->hold_new_ms.value_or(1000))});
  if (!probes) return die(probes.error());
  if (options->verbose) {
    std::cerr << "tlstap: TLS calls' sockets found through the " << (*probes)->attribution_hook()
              << "\n";
  }

  install_signal_handlers();
  // Secrets: read when something takes key log lines.
  std::unique_ptr<keys::KeyService> key_service;
  if (keys)
    key_service =
        std::make_unique<keys::KeyService>(keys::default_keyprobe_path(), options->verbose);
  engine::Attacher attacher(**probes, options->verbose, options->stacks, key_service.get(),
                            options->keys_only);

  engine::Engine engine(**probes, attacher, key_service.get(), out.sinks());

  int targets = options->stacks.empty() ? 0 : attacher.attach_existing();
  if (!options->list) attacher.say_unhooked(options->filters, std::cerr);
  if (options->list) {
    if (options->ktls) attacher.start_ktls(ktls_support);
    attacher.list(out.output());
    out.output().flush();
    return 0;
  }
  if (options->stacks.empty() && ktls_support.state == loader::KtlsSupport::kUnavailable) {
    return die(
        {ExitCode::kFailure, "--lib ktls: kTLS capture is unavailable: " + ktls_support.why});
  }
  // Go programs carry their TLS inside: when they are all that was asked
  // for, one may start at any moment; a library is usually there already.
  // So may a kTLS socket.
  const bool only_go = options->stacks == std::set{discovery::LibKind::kGo};
  auto no_library = [] {
    return die({ExitCode::kNoTlsLibrary,
                "no TLS library to attach to: no process maps OpenSSL, BoringSSL, GnuTLS or "
                "NSS, the dynamic linker cache lists none, no running Go program uses "
                "crypto/tls, and kTLS capture is unavailable (run -v to see why candidates "
                "were skipped)"});
  };
  if (targets == 0 && !only_go && ktls_support.state == loader::KtlsSupport::kUnavailable) {
    return no_library();
  }
  const bool ktls = options->ktls && attacher.start_ktls(ktls_support);
  if (targets == 0 && !only_go && !ktls) return no_library();
  std::string sources;
  if (targets > 0) {
    sources = std::to_string(targets) + " TLS " + (targets == 1 ? "library" : "libraries");
  }
  if (ktls) sources += (sources.empty() ? "" : " and ") + attacher.ktls_summary();
  if (options->keys_only) {
    // Go programs carry their TLS inside: one may start at any moment.
    const bool go = options->stacks.contains(discovery::LibKind::kGo);
    if (attacher.key_libraries() == 0 && !go) {
      return die({ExitCode::kFailure,
                  "keys: no OpenSSL, BoringSSL or GnuTLS library whose secrets tlstap can locate "
                  "(see above)"});
    }
    std::cerr << "tlstap: writing the TLS keys of sessions through " << attacher.key_libraries()
              << " OpenSSL, BoringSSL and GnuTLS "
              << (attacher.key_libraries() == 1 ? "library" : "libraries")
              << (go ? " and Go programs (" + std::to_string(attacher.key_go_programs()) +
                           " running)"
                     : "")
              << " to "
              << (options->write_path.empty() && options->keylog_path.empty()
                      ? std::string("standard output")
                      : options->keylog_path)
              << "; Ctrl-C to stop\n";
  } else if (targets == 0 && only_go) {
    std::cerr << "tlstap: no Go program using crypto/tls is running; waiting for one; "
                 "Ctrl-C to stop\n";
  } else {
    std::cerr << "tlstap: capturing from " << sources << " (" << (*probes)->attached_probes()
              << " probes); Ctrl-C to stop\n";
  }
  // Packets only now: the TLS probes that name their connections are on.
  if (auto ok = out.attach_packets(**probes, options->verbose); !ok) return die(ok.error());
  out.say_started(std::cerr);

  engine.run(g_stop);
  out.stop_senders();

  capture::Stats final_stats = engine.snapshot();
  if (options->hold_new_ms) attacher.say_holds(std::cerr);
  if (options->keys_only) {
    std::cerr << "tlstap: keys of " << final_stats.key_sessions << " TLS sessions, "
              << key_service->lines() << " key log lines written; " << final_stats.targets_attached
              << " libraries, " << final_stats.probes_attached << " probes attached\n";
    exporting::write_losses_text(std::cerr, final_stats);
    return engine.output_failed() ? 1 : 0;
  }
  if (out.finish(std::cerr, final_stats, key_service ? key_service->lines() : 0)) {
    engine.final_stats(final_stats);
    return static_cast<int>(ExitCode::kFailure);
  }
  engine.final_stats(final_stats);
  out.say_final_stats(std::cerr, final_stats);
  // A reader that went away (EPIPE: | head) is a normal stop; a full disk
  // or an I/O error is a failure: what came after it was lost (counted).
  return engine.output_failed() ? 1 : 0;
}
