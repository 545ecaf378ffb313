// The command line.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "discovery/targets.h"
#include "export/prometheus/server.h"
#include "loader/probes.h"
#include "util/error.h"

namespace tlstap::cli {

struct Options {
  loader::Filters filters;
  bool json = false;
  bool hex = false;
  // --records: HTTP/1 and HTTP/2 request/response pairs, instead of the TLS calls'
  // data (events false) unless --events asks for both.
  bool records = false;
  bool events = true;
  std::string write_path;  // -w (JSON lines)
  // -w FILE.pcapng: packets of traced processes' connections, with the TLS
  // secrets that decrypt them, instead of the plaintext events.
  std::string pcapng_path;
  std::vector<std::string> interfaces;  // -i: empty means every interface that is up
  std::vector<uint16_t> ports;          // --port: only TCP packets from or to these
  uint64_t rotate_mib = 0;              // -C MIB: a new file past this size; 0: never
  uint64_t reorder_delay_ms = 2000;     // --reorder-delay MS: how long packets wait for secrets
  bool tc_clsact = false;               // --tc-clsact: cls_bpf on clsact even with tcx (tests)
  // --metrics [ADDR:]PORT: Prometheus metrics over HTTP (records made
  // whether shown or not).
  std::optional<exporting::MetricsAddress> metrics;
  // --otlp URL: spans over OTLP/HTTP to this URL (already ending in
  // /v1/traces when given without a path; records made whether shown or not).
  std::string otlp_url;
  std::optional<int> stats_interval;  // --stats[=SECONDS]
  uint32_t ring_bytes = 64u << 20;
  bool syscall_hook = false;  // --syscall-hook
  // --hold-new[=MS]: stop a process at a file not seen yet until its probes
  // are attached, at most this long.
  std::optional<int> hold_new_ms;
  bool list = false;  // --list
  // The TLS stacks to hook (--lib, --no-STACK): all by default.
  std::set<discovery::LibKind> stacks{std::begin(discovery::kLibKinds),
                                      std::end(discovery::kLibKinds)};
  bool ktls = true;           // kernel TLS capture (--no-ktls, --lib)
  bool ktls_kprobes = false;  // --ktls-kprobes: never fentry/fexit for kTLS
  // TLS secrets as an NSS key log: `tlstap keys` (secrets only; -w names
  // the key log, standard output without it), or --keylog FILE beside a capture.
  bool keys_only = false;
  std::string keylog_path;
  bool verbose = false;
  bool help = false;
  bool version = false;
};

// Parses argv; a usage error carries ExitCode::kUsage and a one-line message.
Result<Options> parse_options(int argc, char** argv);

// --pid: each one a running process (a thread group's leader, as the
// in-kernel filter compares), looked up under proc_root. Otherwise a usage
// error in one line, as strace -p says "No such process": a filter that can
// never match would capture nothing, in silence, until stopped.
Result<void> check_pids(const std::vector<pid_t>& pids, const std::string& proc_root = "/proc");

// --help: the text, its TLS stacks from discovery::kStacks.
std::string usage_text();

}  // namespace tlstap::cli
