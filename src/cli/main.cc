// tlstap: TLS plaintext, live, from eBPF probes on the libraries that
// encrypt it.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <iostream>
#include <memory>

#include "cli/options.h"
#include "cli/session.h"
#include "export/json/json_lines.h"
#include "export/otlp/sender.h"
#include "export/output_file.h"
#include "export/prometheus/metrics.h"
#include "export/prometheus/server.h"
#include "export/text/table.h"
#include "keys/key_log_file.h"
#include "keys/ssl_offsets.h"
#include "loader/preflight.h"
#include "loader/probes.h"
#include "packets/interfaces.h"
#include "packets/packet_capture.h"
#include "pcapng/writer.h"

namespace {

std::atomic<bool> g_stop{false};

void on_signal(int) { g_stop.store(true); }

int die(const tlstap::Error& e) {
  std::cerr << "tlstap: " << e.message << "\n";
  return static_cast<int>(e.code);
}

// --otlp's failures come from its sender thread: one write(2) each, so
// they never touch std::cerr, which the session's thread writes.
void write_stderr(const std::string& line) {
  for (size_t done = 0; done < line.size();) {
    ssize_t n = write(STDERR_FILENO, line.data() + done, line.size() - done);
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

std::string host_name() {
  char name[256] = {};
  gethostname(name, sizeof(name) - 1);
  return name;
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
    std::cout << cli::kUsage;
    return 0;
  }
  if (options->version) {
    std::cout << "tlstap " TLSTAP_VERSION "\n";
    return 0;
  }
  std::ios::sync_with_stdio(false);
  if (auto ok = cli::check_pids(options->filters.pids); !ok) return die(ok.error());

  if (auto ok = loader::check_privileges(); !ok) return die(ok.error());
  if (auto ok = loader::check_kernel(); !ok) return die(ok.error());

  // --metrics listens before anything is attached: a port in use stops
  // here, in one line. metrics outlives the server that reads it.
  exporting::Metrics metrics;
  std::unique_ptr<exporting::MetricsServer> metrics_server;
  if (options->metrics && !options->list) {
    auto started = exporting::MetricsServer::make(*options->metrics, metrics);
    if (!started) return die(started.error());
    metrics_server = std::move(*started);
  }

  // --otlp: the sender thread starts now; nothing is sent before a record.
  std::unique_ptr<exporting::otlp::Sender> otlp;
  if (!options->otlp_url.empty() && !options->list) {
    auto transport = exporting::otlp::make_curl_transport(options->otlp_url);
    if (!transport) return die(transport.error());
    otlp = std::make_unique<exporting::otlp::Sender>(
        std::move(*transport),
        exporting::otlp::Origin{.host_name = host_name(), .scope_version = TLSTAP_VERSION},
        options->otlp_url, write_stderr);
  }

  // The JSON lines or the table: -w FILE, or standard output. Either way a
  // write that fails stops the session, which says why.
  std::unique_ptr<exporting::Output> output;
  const bool to_file = !options->write_path.empty();
  if (to_file) {
    auto opened = exporting::Output::open(options->write_path);
    if (!opened) return die(opened.error());
    output = std::move(*opened);
  } else {
    output = exporting::Output::standard_output();
  }
  // The key log file, opened before anything is attached: a refused path
  // (a symbolic link) stops here, in one line.
  std::unique_ptr<keys::KeyLogFile> key_log;
  if (!options->keylog_path.empty()) {
    auto opened = keys::KeyLogFile::open(options->keylog_path);
    if (!opened) return die(opened.error());
    key_log = std::move(*opened);
  }
  // -w FILE.pcapng: the interfaces, then the file (a symbolic link there
  // stops here, in one line), before anything is attached.
  std::vector<packets::NetInterface> interfaces;
  std::unique_ptr<packets::PacketCapture> packet_capture;
  if (!options->pcapng_path.empty()) {
    std::vector<std::string> skipped;
    auto chosen = packets::choose_interfaces(options->interfaces, &skipped);
    if (!chosen) return die(chosen.error());
    for (const std::string& why : skipped)
      std::cerr << "tlstap: packets not taken: " << why << "\n";
    interfaces = std::move(*chosen);
    auto made = packets::PacketCapture::make(pcapng::numbered_files(options->pcapng_path),
                                             {.delay_ns = options->reorder_delay_ms * 1'000'000ull,
                                              .rotate_bytes = options->rotate_mib << 20});
    if (!made) return die(made.error());
    packet_capture = std::move(*made);
  }
  const bool keys = options->keys_only || key_log || packet_capture;
  std::unique_ptr<exporting::Exporter> exporter;
  if (to_file || options->json) {
    exporter = std::make_unique<exporting::JsonLinesExporter>(*output);
  } else {
    exporter = std::make_unique<exporting::TableExporter>(
        *output, std::cerr, exporting::TableOptions{.hex = options->hex});
  }

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
       .packet_ring_bytes = packet_capture ? options->ring_bytes : 0,
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
  cli::Session session(**probes, *exporter, options->verbose, options->stacks);
  if (options->records) session.enable_records(options->events);
  if (metrics_server) session.enable_metrics(&metrics);
  if (otlp) session.enable_otlp(otlp.get());
  if (packet_capture) session.enable_packets(packet_capture.get());
  if (keys) {
    session.enable_keys(keys::default_keyprobe_path(), std::move(key_log),
                        options->keys_only ? output.get() : nullptr, options->keys_only);
  }
  int targets = options->stacks.empty() ? 0 : session.attach_existing();
  if (!options->list) session.say_unhooked(options->filters, std::cerr);
  if (options->list) {
    if (options->ktls) session.start_ktls(ktls_support);
    session.list(*output);
    output->flush();
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
  const bool ktls = options->ktls && session.start_ktls(ktls_support);
  if (targets == 0 && !only_go && !ktls) return no_library();
  std::string sources;
  if (targets > 0) {
    sources = std::to_string(targets) + " TLS " + (targets == 1 ? "library" : "libraries");
  }
  if (ktls) sources += (sources.empty() ? "" : " and ") + session.ktls_summary();
  if (options->keys_only) {
    // Go programs carry their TLS inside: one may start at any moment.
    const bool go = options->stacks.contains(discovery::LibKind::kGo);
    if (session.key_libraries() == 0 && !go) {
      return die({ExitCode::kFailure,
                  "keys: no OpenSSL, BoringSSL or GnuTLS library whose secrets tlstap can locate "
                  "(see above)"});
    }
    std::cerr << "tlstap: writing the TLS keys of sessions through " << session.key_libraries()
              << " OpenSSL, BoringSSL and GnuTLS "
              << (session.key_libraries() == 1 ? "library" : "libraries")
              << (go ? " and Go programs (" + std::to_string(session.key_go_programs()) +
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
  if (packet_capture) {
    // Packets only now: the TLS probes that name their connections are on.
    std::string names;
    for (const packets::NetInterface& iface : interfaces) {
      loader::PacketInterface where{.ifindex = iface.ifindex,
                                    .name = iface.name,
                                    .l3_offset = iface.l3_offset,
                                    .ingress = !iface.loopback,
                                    .egress = true};
      if (auto added = packet_capture->add_interface(iface); !added) return die(added.error());
      auto how = (*probes)->attach_packets(where);
      if (!how) return die({ExitCode::kInterface, how.error().message});
      names += (names.empty() ? "" : ", ") + iface.name;
      if (options->verbose)
        std::cerr << "tlstap: packets on " << iface.name << " (" << *how << ")\n";
    }
    std::cerr << "tlstap: writing the packets of traced connections on " << names << " to "
              << options->pcapng_path << "\n";
  }
  if (otlp) std::cerr << "tlstap: sending spans to " << options->otlp_url << "\n";
  if (metrics_server) {
    std::cerr << "tlstap: metrics at http://"
              << exporting::format_metrics_address(*options->metrics) << "/metrics\n";
  }

  std::optional<std::chrono::seconds> interval;
  if (options->stats_interval) interval = std::chrono::seconds(*options->stats_interval);
  session.run(g_stop, interval);
  // The last spans (the records close_all made at the end of run): sent
  // within 2 s, or counted as dropped.
  if (otlp) otlp->close(std::chrono::seconds(2));

  capture::Stats final_stats = session.snapshot();
  if (options->hold_new_ms) session.say_holds(std::cerr);
  if (options->keys_only) {
    std::cerr << "tlstap: keys of " << final_stats.key_sessions << " TLS sessions, "
              << session.key_lines_written() << " key log lines written; "
              << final_stats.targets_attached << " libraries, " << final_stats.probes_attached
              << " probes attached\n";
    exporting::write_losses_text(std::cerr, final_stats);
    return session.output_failed() || session.keys_failed() ? 1 : 0;
  }
  if (packet_capture) {
    const packets::CaptureStats p = packet_capture->stats();
    const capture::Stats& k = final_stats;
    std::cerr << "tlstap: packets: " << p.written << " written to " << p.files
              << (p.files == 1 ? " file" : " files") << " (" << options->pcapng_path
              << (p.files > 1 ? ", .1, ..." : "") << "); " << p.received << " taken, "
              << p.unadmitted << " of connections no traced process used, "
              << p.not_tcp + p.unknown_interface << " unreadable; " << p.held << " still held, "
              << p.released_early << " released early, " << p.late << " out of order; lost "
              << k.lost_packets_ringbuf << " (ring full), " << k.lost_packets_read
              << " (unreadable), " << k.packets_truncated << " cut to " << TLSTAP_PACKET_MAX
              << " bytes; keys of " << k.key_sessions << " TLS sessions, "
              << session.key_lines_written() << " key log lines\n";
    if (session.packets_failed()) {
      exporter->on_stats(final_stats, true);
      return static_cast<int>(ExitCode::kFailure);
    }
  }
  if (keys && !options->keylog_path.empty()) {
    std::cerr << "tlstap: keys of " << final_stats.key_sessions << " TLS sessions, "
              << session.key_lines_written() << " key log lines written to " << options->keylog_path
              << "\n";
  }
  exporter->on_stats(final_stats, true);
  exporter->flush();
  // Where the stats above did not reach a terminal: a file, or a dead pipe.
  if (to_file || (options->json && exporter->failed())) {
    exporting::write_stats_text(std::cerr, final_stats, true);
  }
  // A reader that went away (EPIPE: | head) is a normal stop; a full disk
  // or an I/O error is a failure: what came after it was lost (counted).
  return session.output_failed() || session.keys_failed() ? 1 : 0;
}
