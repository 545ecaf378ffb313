#include "cli/options.h"

#include <getopt.h>
#include <pwd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "export/otlp/sender.h"

namespace tlstap::cli {

// --help up to the TLS stacks.
const char kUsageHead[] = R"(Usage: tlstap [OPTION]...
       tlstap keys [-w FILE] [FILTER]...
Show, live, the plaintext that programs on this host send and receive through
TLS libraries (OpenSSL 1.1 and 3.x, BoringSSL, GnuTLS, NSS, Go's crypto/tls)
and the kernel's own TLS (kTLS): who sent it, on which connection, in which
direction, every byte. Needs root. Ctrl-C stops and prints statistics.

Output (default: a live table on standard output, one row per TLS call:
TIME COMM PID DIR LEN CONNECTION PLAINTEXT):
  -x, --hex              under each row, a hex dump of every byte of the call
  -j, --json             JSON lines instead of the table, every byte base64:
                         {"type":"data","ts_ns":..,"pid":..,"tid":..,"comm":..,
                          "lib":"openssl","dir":"tx","fd":5,"laddr":..,"raddr":..,
                          "len":83,"captured":83,"data":"R0VUIC8..."}
                         "comm" is the process's name; "thread":NAME follows
                         it when the calling thread's own name differs;
                         statistics are {"type":"stats",...} lines
  -w, --write FILE       write the JSON lines to FILE instead of standard output
                         (-w - or /dev/stdout: standard output). FILE is
                         created with mode 0600; a file that was there must be
                         root's (tlstap's user's) own, with no other name (hard
                         link), and is emptied (replaced when its mode let
                         others open it); a symbolic link, or a file or named
                         pipe of another user, is refused; a character device
                         (/dev/null) or a named pipe is written as it is.
                         The same holds for every file tlstap writes (--keylog,
                         tlstap keys -w, -w FILE.pcapng).
                         A FILE ending in .pcapng is a packet capture instead:
                         see "Packets" below
      --stats[=SECONDS]  also print statistics every SECONDS (default 10);
                         they are always printed at exit (stderr for the table)
      --records          HTTP/1, HTTP/2, MySQL and PostgreSQL records instead of
                         TLS calls: each connection's bytes put back in order
                         and parsed (HTTP/2 when it opens with the h2 preface;
                         HPACK needs the connection from its start; MySQL when
                         it opens with a client's login or a command;
                         PostgreSQL with a StartupMessage), one row per request
                         (h2: per stream; MySQL: per command; PostgreSQL: per
                         Query, per Execute with its statement's text, per
                         failed Parse/Bind) and its
                         response, as soon as it is whole:
                         TIME COMM PID CONNECTION PROTO STATUS LATENCY REQ RESP
                         REQUEST (REQ and RESP: bytes on the wire, headers and
                         body; LATENCY: request's first byte to response's last;
                         CONNECTION ">" on the client, "<" on the server). Both
                         ends are shown when both are traced. A pair cut short
                         says why in brackets ([no response], ...). With --json:
                         {"type":"record","proto":"http1","ts_ns":..,"pid":..,
                          "comm":..,"lib":"openssl","side":"client","fd":5,
                          "laddr":..,"raddr":..,"conn_id":..,"method":"GET",
                          "target":"/","host":..,"status":200,"latency_ns":..,
                          "request_bytes":..,"response_bytes":..,
                          "request_body_bytes":..,"response_body_bytes":..}
                         and "error":".." when incomplete; HTTP/2 streams have
                         "proto":"http2","stream_id":N, and "grpc_status":N,
                         "grpc_message":".." when the trailers carry them;
                         MySQL commands have "proto":"mysql", "method" the
                         command, "target" the statement, "status" 1 (ok) or
                         2 (error), "rows", "db_error_code","db_error_message";
                         PostgreSQL commands likewise with "proto":"postgres",
                         "method" "Query", "Execute", "Parse", ..., the SQLSTATE
                         in "db_error_code"
      --events           with --records: the TLS calls' data too (rows or
                         {"type":"data"} lines, interleaved with the records)
      --metrics [ADDR:]PORT
                         serve Prometheus metrics (text format 0.0.4) at
                         http://ADDR:PORT/metrics, ADDR 127.0.0.1 unless given
                         (0.0.0.0: every interface; [IPv6] needs a civetweb
                         built with IPv6, which Debian 12's is not): HTTP requests
                         and latency histograms by protocol, method, status,
                         process name (comm) and side (client/server), database
                         queries (MySQL, PostgreSQL) by command alike, and
                         tlstap's health: calls, bytes, losses by cause, share
                         of bytes attributed, libraries and probes attached.
                         Records are made for it without being shown (add
                         --records to see them); no label ever holds payload
                         (no target, host or header)
      --otlp URL         send each record as an OpenTelemetry span over OTLP/HTTP
                         (JSON) to URL, http:// or https:// (e.g. a Collector's
                         http://127.0.0.1:4318; a URL without a path gets
                         /v1/traces): SERVER spans on the side that received the
                         request, CLIENT on the side that sent it, from the
                         request's first byte to the response's last, with the
                         HTTP or database semantic-convention attributes (method,
                         url.path, url.query, status, server and client address,
                         db.query.text, errors; never a header or a body) and a
                         resource per process (service.name = comm, process.pid,
                         host.name). Records are made for it without being shown.
                         Sent from a queue by a thread of its own: the capture never
                         waits; a full queue drops spans, a failed send is said once
                         per kind of failure; both counted in the statistics
      --keylog FILE      also write the TLS secrets of every session seen
                         (OpenSSL, tested on 3.0; GnuTLS, tested on 3.7.9;
                         BoringSSL, tested on Android 13's; Go 1.18+) to FILE
                         in NSS key log format
                         (SSLKEYLOGFILE: Wireshark's "(Pre)-Master-Secret log
                         filename"); created 0600, appended to, no symbolic link

Packets (-w FILE.pcapng): the TCP packets of the connections traced processes
use for TLS, as they crossed the network interfaces, in a pcapng file that
Wireshark and tshark decrypt alone: the TLS secrets (OpenSSL, BoringSSL, GnuTLS,
Go) travel in Decryption Secrets Blocks ahead of the packets, each packet's
comment says "pid=N comm=NAME". Filters (-p, -c, -u) choose the processes.
Nothing goes to standard output; statistics go to stderr at exit.
  sudo tlstap -c curl -w curl.pcapng        then: wireshark curl.pcapng
  tshark -r curl.pcapng -Y http             (no key file needed)
  -i, --interface IFACE  take packets on IFACE; repeat for more (default: every
                         interface that is up, loopback included; loopback's
                         packets are taken once, as they leave)
      --port PORT        only TCP packets from or to PORT; repeat for more
  -C, --file-size MIB    start FILE.1, FILE.2, ... when a file would pass MIB
                         MiB; each file starts with every secret so far (a
                         session decrypts in the file holding its handshake)
      --reorder-delay MS hold packets MS milliseconds (default 2000) so the
                         secrets that decrypt them are written first; a
                         connection whose first TLS call comes later than that
                         after its first packet loses those packets
      --tc-clsact        attach as cls_bpf filters on a clsact qdisc, as on
                         kernels before 6.6, instead of tcx links (for tests;
                         a clsact qdisc tlstap did not create is left in place)
Packets of connections no traced process used for TLS are left out (counted).
Interfaces that come up later, and traffic on interfaces not chosen, are not
seen.

TLS keys only (tlstap keys): no plaintext is copied; each new TLS session's
secrets are written once, as NSS key log lines, to FILE (-w FILE, created
0600 and appended to) or to standard output. Filters apply.
  sudo tlstap keys -w /tmp/keys.log    then: tshark -o tls.keylog_file:/tmp/keys.log ...

TLS stacks (all hooked unless chosen):
)";

// After the TLS stacks, made from discovery::kStacks (usage_text).
const char kUsageTail[] =
    R"(      --no-ktls          do not probe the kernel's TLS layer (kTLS: tls_sw_sendmsg,
                         tls_sw_recvmsg, ...; needs kprobes and the tls module).
                         A library call on a kTLS socket is reported once, by the
                         library, with "ktls":true
      --list             list the TLS libraries found, which processes use them,
                         and whether probes attach (or why not); then exit

Filters, applied in the kernel before any byte is copied:
  -p, --pid PID          only this process (running now: a pid that is not, or
                         a thread's id, is refused); repeat for more
  -c, --comm NAME        only processes whose command name is NAME (as in ps -o
                         comm: the process's name, not one of its threads'
                         names); repeat for more
  -u, --uid USER         only processes running as USER (name or number)

Programs that start while tlstap runs are attached within milliseconds of
their exec (or of loading a TLS library); calls they make before that are not
shown. To see them from their first call:
      --hold-new[=MS]    stop (SIGSTOP) a process that executes or maps a file
                         tlstap has not seen, until the file is inspected and
                         its probes attached, then continue it (SIGCONT); at
                         most MS ms (default 1000), after which it goes on
                         unprobed (said). Costs each new program a few ms once
                         per file per tlstap run (files seen at start are not
                         held). Meant for services and scripts: an interactive
                         shell's job control sees its command stop and puts it
                         in the background; a debugger sees a SIGSTOP. A
                         container's first process (pid 1 of its namespace)
                         cannot be stopped this way (counted). Combine with -c
                         or -p to hold only those programs

Tuning:
      --ring-size MIB    ring buffer between kernel and tlstap, a power of two
                         (default 64); raise it if statistics report losses
      --syscall-hook     find each TLS call's socket from every syscall entry,
                         as on kernels before 6.3, instead of from the socket
                         I/O tracepoints (slower for the whole host; for tests)
      --ktls-kprobes     hook the kernel's TLS layer with kprobes/kretprobes even
                         where fentry/fexit work (they are tried first: cheaper
                         per call; they need BPF trampolines and the tls
                         module's BTF); for tests, or a kernel whose
                         trampolines misbehave
  -v, --verbose          show libbpf's messages and each library found
  -h, --help             this text
  -V, --version          version

Examples:
  sudo tlstap                          everything, as a table
  sudo tlstap -c curl -x               curl's traffic with full hex dumps
  sudo tlstap --json | jq -r 'select(.dir=="rx") | .data | @base64d'
  sudo tlstap -p 1234 -w capture.jsonl --stats=5
  sudo tlstap -c nginx --records       nginx's HTTP/1 and HTTP/2 requests, one row each
  sudo tlstap --records --json | jq 'select(.type=="record" and .status>=500)'
  sudo tlstap --metrics 9464 >/dev/null  metrics at http://127.0.0.1:9464/metrics
  sudo tlstap --otlp http://127.0.0.1:4318 >/dev/null  spans to an OpenTelemetry Collector

Exit status: 0 stopped normally (Ctrl-C, a signal, or the reader of standard
output went away: | head), 1 failure (e.g. an output could not be written: disk
full, I/O error; what was not written is counted lost: output_events,
output_bytes, output_records), 2 bad command line (also: --pid of no running
process, an output file refused), 3 not enough privileges, 4 kernel
without BTF, 5 kernel without uprobes, 6 no TLS library found on this host and no kTLS capture possible, 7
--metrics address cannot be listened on (port in use), 8 -w FILE.pcapng: an
interface is unknown, of a kind tlstap cannot read, or packets cannot be
taken on it.
)";

std::string usage_text() {
  std::string names;
  for (const discovery::Stack& stack : discovery::kStacks) names += std::string(stack.name) + ", ";
  names.pop_back();  // "go," ends the line
  std::string text = kUsageHead;
  text += "      --lib STACK[,STACK]  hook only these stacks: " + names + "\n";
  text += "                         ktls\n";
  for (const discovery::Stack& stack : discovery::kStacks) {
    std::string option = "      --no-" + std::string(stack.name);
    option.resize(std::max<size_t>(option.size() + 1, 25), ' ');
    text += option + "do not hook " + std::string(stack.what) + "\n";
  }
  return text + kUsageTail;
}

namespace {

template <typename T>
std::optional<T> parse_number(const char* s) {
  T value{};
  const char* end = s + strlen(s);
  auto [ptr, ec] = std::from_chars(s, end, value);
  if (ec != std::errc() || ptr != end || s == end) return std::nullopt;
  return value;
}

std::unexpected<Error> usage(const std::string& message) {
  return fail(ExitCode::kUsage, message + " (see tlstap --help)");
}

}  // namespace

Result<void> check_pids(const std::vector<pid_t>& pids, const std::string& proc_root) {
  for (pid_t pid : pids) {
    const std::string id = std::to_string(pid);
    std::ifstream status(proc_root + "/" + id + "/status");
    if (!status) return fail(ExitCode::kUsage, "--pid " + id + ": no such process");
    // A thread's id opens /proc/TID too; the filter compares process ids.
    std::string line;
    while (std::getline(status, line)) {
      if (!line.starts_with("Tgid:")) continue;
      const size_t at = line.find_first_not_of(" \t", 5);
      auto tgid = at == std::string::npos ? std::nullopt : parse_number<pid_t>(line.c_str() + at);
      if (tgid && *tgid != pid) {
        return fail(ExitCode::kUsage, "--pid " + id + ": a thread of process " +
                                          std::to_string(*tgid) + "; --pid takes a process id");
      }
      break;
    }
  }
  return {};
}

Result<Options> parse_options(int argc, char** argv) {
  // --no-STACK for each stack in kLibKinds: values kNoStack + its index.
  enum {
    kStats = 1000,
    kRingSize,
    kSyscallHook,
    kKtlsKprobes,
    kLib,
    kList,
    kNoKtls,
    kKeylog,
    kRecords,
    kEvents,
    kMetrics,
    kOtlp,
    kPort,
    kReorderDelay,
    kTcClsact,
    kHoldNew,
    kNoStack
  };
  constexpr int kStacks = std::size(discovery::kLibKinds);
  static const std::vector<std::string> kNoNames = [] {
    std::vector<std::string> names;
    for (discovery::LibKind kind : discovery::kLibKinds) {
      names.push_back("no-" + std::string(discovery::lib_kind_name(kind)));
    }
    return names;
  }();
  static const std::vector<option> kLong = [] {
    std::vector<option> all = {
        {"hex", no_argument, nullptr, 'x'},
        {"json", no_argument, nullptr, 'j'},
        {"write", required_argument, nullptr, 'w'},
        {"stats", optional_argument, nullptr, kStats},
        {"pid", required_argument, nullptr, 'p'},
        {"comm", required_argument, nullptr, 'c'},
        {"uid", required_argument, nullptr, 'u'},
        {"ring-size", required_argument, nullptr, kRingSize},
        {"syscall-hook", no_argument, nullptr, kSyscallHook},
        {"hold-new", optional_argument, nullptr, kHoldNew},
        {"ktls-kprobes", no_argument, nullptr, kKtlsKprobes},
        {"lib", required_argument, nullptr, kLib},
        {"list", no_argument, nullptr, kList},
        {"no-ktls", no_argument, nullptr, kNoKtls},
        {"keylog", required_argument, nullptr, kKeylog},
        {"records", no_argument, nullptr, kRecords},
        {"events", no_argument, nullptr, kEvents},
        {"metrics", required_argument, nullptr, kMetrics},
        {"otlp", required_argument, nullptr, kOtlp},
        {"interface", required_argument, nullptr, 'i'},
        {"port", required_argument, nullptr, kPort},
        {"file-size", required_argument, nullptr, 'C'},
        {"reorder-delay", required_argument, nullptr, kReorderDelay},
        {"tc-clsact", no_argument, nullptr, kTcClsact},
        {"verbose", no_argument, nullptr, 'v'},
        {"help", no_argument, nullptr, 'h'},
        {"version", no_argument, nullptr, 'V'},
    };
    for (int i = 0; i < kStacks; ++i) {
      all.push_back({kNoNames[i].c_str(), no_argument, nullptr, kNoStack + i});
    }
    all.push_back({nullptr, 0, nullptr, 0});
    return all;
  }();
  Options o;
  std::optional<std::set<discovery::LibKind>> lib_chosen;
  bool ktls_chosen = false;
  bool events_chosen = false;
  bool stdout_chosen = false;  // -w - or -w /dev/stdout
  std::set<discovery::LibKind> excluded;
  optind = 0;  // reset: tests call this more than once
  opterr = 0;
  if (argc > 1 && std::string_view(argv[1]) == "keys") {
    o.keys_only = true;
    --argc;  // getopt sees the subcommand as the program name
    ++argv;
  }
  int c;
  while ((c = getopt_long(argc, argv, ":xjw:p:c:u:i:C:vhV", kLong.data(), nullptr)) != -1) {
    switch (c) {
      case 'x':
        o.hex = true;
        break;
      case 'j':
        o.json = true;
        break;
      case 'w':
        o.write_path = optarg;
        // Standard output by name: /dev/stdout is a symbolic link, which
        // files are never opened through.
        if (o.write_path == "-" || o.write_path == "/dev/stdout") {
          o.write_path.clear();
          o.json = true;
          stdout_chosen = true;
        }
        break;
      case 'i':
        if (strlen(optarg) == 0 || strlen(optarg) >= 16) {
          return usage(std::string("-i takes an interface name (1 to 15 characters): ") + optarg);
        }
        o.interfaces.push_back(optarg);
        break;
      case kPort: {
        auto port = parse_number<uint16_t>(optarg);
        if (!port || *port == 0) return usage(std::string("--port takes 1 to 65535: ") + optarg);
        if (o.ports.size() == 64) return usage("--port: at most 64 ports");
        o.ports.push_back(*port);
        break;
      }
      case 'C': {
        auto mib = parse_number<uint64_t>(optarg);
        if (!mib || *mib == 0 || *mib > (1u << 20)) {
          return usage("-C takes a file size in MiB, 1 to 1048576");
        }
        o.rotate_mib = *mib;
        break;
      }
      case kReorderDelay: {
        auto ms = parse_number<uint64_t>(optarg);
        if (!ms || *ms > 600'000) return usage("--reorder-delay takes 0 to 600000 milliseconds");
        o.reorder_delay_ms = *ms;
        break;
      }
      case kTcClsact:
        o.tc_clsact = true;
        break;
      case kStats: {
        if (!optarg) {
          o.stats_interval = 10;
          break;
        }
        auto secs = parse_number<int>(optarg);
        if (!secs || *secs <= 0) return usage("--stats takes a number of seconds > 0");
        o.stats_interval = *secs;
        break;
      }
      case 'p': {
        auto pid = parse_number<int>(optarg);
        if (!pid || *pid <= 0) return usage(std::string("not a process id: ") + optarg);
        o.filters.pids.push_back(*pid);
        break;
      }
      case 'c':
        if (strlen(optarg) == 0 || strlen(optarg) > 15) {
          return usage("--comm takes a command name of 1 to 15 characters (the kernel keeps 15)");
        }
        if (o.filters.comms.size() == TLSTAP_MAX_COMMS) {
          return usage("--comm: at most " + std::to_string(TLSTAP_MAX_COMMS) + " command names");
        }
        o.filters.comms.push_back(optarg);
        break;
      case 'u': {
        if (auto uid = parse_number<uint32_t>(optarg)) {
          o.filters.uid = *uid;
        } else if (passwd* pw = getpwnam(optarg)) {
          o.filters.uid = pw->pw_uid;
        } else {
          return usage(std::string("no such user: ") + optarg);
        }
        break;
      }
      case kRingSize: {
        auto mib = parse_number<uint32_t>(optarg);
        if (!mib || *mib == 0 || *mib > 1024 || (*mib & (*mib - 1))) {
          return usage("--ring-size takes a power of two from 1 to 1024 (MiB)");
        }
        o.ring_bytes = *mib << 20;
        break;
      }
      case kSyscallHook:
        o.syscall_hook = true;
        break;
      case kHoldNew: {
        auto ms = optarg ? parse_number<int>(optarg) : std::optional<int>(1000);
        if (!ms || *ms < 1 || *ms > 60000) {
          return usage("--hold-new=MS takes 1 to 60000 (milliseconds)");
        }
        o.hold_new_ms = *ms;
        break;
      }
      case kKtlsKprobes:
        o.ktls_kprobes = true;
        break;
      case kLib: {
        std::set<discovery::LibKind> chosen;
        std::string_view list = optarg;
        for (size_t start = 0; start <= list.size();) {
          size_t comma = std::min(list.find(',', start), list.size());
          std::string_view name = list.substr(start, comma - start);
          start = comma + 1;
          if (name == "ktls") {
            ktls_chosen = true;
            continue;
          }
          auto kind = discovery::lib_kind_from_name(name);
          if (!kind) {
            std::string known;
            for (discovery::LibKind k : discovery::kLibKinds) {
              known += (known.empty() ? "" : ", ") + std::string(discovery::lib_kind_name(k));
            }
            known += ", ktls";
            return usage("--lib takes stacks from: " + known + " (got \"" + std::string(name) +
                         "\")");
          }
          chosen.insert(*kind);
        }
        if (chosen.empty() && !ktls_chosen) return usage("--lib needs at least one stack");
        lib_chosen = std::move(chosen);
        break;
      }
      case kList:
        o.list = true;
        break;
      case kNoKtls:
        o.ktls = false;
        break;
      case kKeylog:
        o.keylog_path = optarg;
        break;
      case kRecords:
        o.records = true;
        break;
      case kEvents:
        events_chosen = true;
        break;
      case kMetrics: {
        auto address = exporting::parse_metrics_address(optarg);
        if (!address) return usage(address.error().message);
        o.metrics = *address;
        break;
      }
      case kOtlp: {
        auto url = exporting::otlp::traces_url(optarg);
        if (!url) return usage(url.error().message);
        o.otlp_url = *url;
        break;
      }
      case 'v':
        o.verbose = true;
        break;
      case 'h':
        o.help = true;
        break;
      case 'V':
        o.version = true;
        break;
      case ':':
        return usage(std::string("option needs a value: ") + argv[optind - 1]);
      default:
        if (c >= kNoStack && c < kNoStack + kStacks) {
          excluded.insert(discovery::kLibKinds[c - kNoStack]);
          break;
        }
        return usage(std::string("unknown option: ") + argv[optind - 1]);
    }
  }
  if (optind < argc) return usage(std::string("unexpected argument: ") + argv[optind]);
  if (lib_chosen) {
    o.stacks = *lib_chosen;
    o.ktls = o.ktls && ktls_chosen;
  }
  for (discovery::LibKind kind : excluded) o.stacks.erase(kind);
  if (events_chosen && !o.records) {
    return usage("--events goes with --records (without it the calls' data is shown anyway)");
  }
  o.events = !o.records || events_chosen;
  if (o.hex && !o.events) return usage("-x dumps the calls' data: with --records add --events");
  bool packet_options = !o.interfaces.empty() || !o.ports.empty() || o.rotate_mib != 0 ||
                        o.reorder_delay_ms != Options{}.reorder_delay_ms || o.tc_clsact;
  if (!o.keys_only && o.write_path.ends_with(".pcapng")) {
    o.pcapng_path = std::exchange(o.write_path, "");
    if (o.json || o.hex || o.records || events_chosen || o.metrics || !o.otlp_url.empty() ||
        o.list) {
      return usage(
          "-w FILE.pcapng writes packets; -j, -x, --records, --events, --metrics, "
          "--otlp and --list go without it");
    }
  } else if (packet_options) {
    return usage("-i, --port, -C, --reorder-delay and --tc-clsact go with -w FILE.pcapng");
  }
  if (o.keys_only) {
    if (!o.keylog_path.empty()) return usage("tlstap keys takes its file as -w FILE");
    if (stdout_chosen) o.json = false;  // key log lines, to standard output
    if (o.json || o.hex || o.list || o.records || events_chosen || o.metrics ||
        !o.otlp_url.empty()) {
      return usage("tlstap keys writes key log lines only");
    }
    // Only the stacks whose secrets are read (discovery::kStacks).
    std::set<discovery::LibKind> with_keys;
    std::string readable;
    for (const discovery::Stack& stack : discovery::kStacks) {
      if (!stack.keys) continue;
      readable += (readable.empty() ? "" : ", ") + std::string(stack.name);
      if (o.stacks.contains(stack.kind)) with_keys.insert(stack.kind);
    }
    if (with_keys.empty()) {
      return usage("tlstap keys reads the secrets of " + readable +
                   ": with all of them off, nothing is left");
    }
    o.stacks = with_keys;
    o.ktls = false;
    o.keylog_path = std::exchange(o.write_path, "");
  }
  if (o.stacks.empty() && !o.ktls)
    return usage("every TLS stack is turned off: nothing to capture");
  return o;
}

}  // namespace tlstap::cli
