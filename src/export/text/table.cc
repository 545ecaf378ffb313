#include "export/text/table.h"

#include <cstdio>
#include <ctime>

#include "export/format.h"
#include "export/text/record_table.h"

namespace tlstap::exporting {
namespace {

constexpr const char* kHeader = "%-15s %-15s %7s %-3s %8s %-47s %s\n";

}  // namespace

std::string format_time(uint64_t ts_ns, bool utc) {
  time_t secs = static_cast<time_t>(ts_ns / 1'000'000'000);
  tm parts{};
  if (utc) {
    gmtime_r(&secs, &parts);
  } else {
    localtime_r(&secs, &parts);
  }
  char buf[32];
  snprintf(buf, sizeof(buf), "%02d:%02d:%02d.%06u", parts.tm_hour, parts.tm_min, parts.tm_sec,
           static_cast<unsigned>(ts_ns % 1'000'000'000 / 1000));
  return buf;
}

TableExporter::TableExporter(std::ostream& out, std::ostream& status, TableOptions options)
    : out_(out), status_(status), options_(options) {}

std::string format_connection(const capture::DataEvent& e) {
  if (!e.attributed()) return "unattributed";
  std::string s = "fd " + std::to_string(e.fd);
  std::string local = capture::format_endpoint(e.local);
  std::string remote = capture::format_endpoint(e.remote);
  if (e.local.family == 0 || local.empty()) return s;
  if (remote.empty() || local == "unix") return s + " " + local;
  return s + " " + local + (e.dir == capture::Dir::kTx ? " > " : " < ") + remote;
}

void write_hex_dump(std::ostream& out, std::string_view bytes) {
  char line[96];
  for (size_t off = 0; off < bytes.size(); off += 16) {
    int n = snprintf(line, sizeof(line), "  %08zx ", off);
    for (size_t i = 0; i < 16; ++i) {
      if (i == 8) line[n++] = ' ';
      if (off + i < bytes.size()) {
        n += snprintf(line + n, sizeof(line) - n, " %02x",
                      static_cast<unsigned char>(bytes[off + i]));
      } else {
        n += snprintf(line + n, sizeof(line) - n, "   ");
      }
    }
    out.write(line, n);
    out << "  |" << printable(bytes.substr(off, 16)) << "|\n";
  }
}

void TableExporter::on_data(const capture::DataEvent& e) {
  if (!header_written_) {
    char header[256];
    snprintf(header, sizeof(header), kHeader, "TIME", "COMM", "PID", "DIR", "LEN", "CONNECTION",
             "PLAINTEXT");
    out_ << header;
    header_written_ = true;
  }
  std::string preview = printable(std::string_view(e.data).substr(0, options_.preview));
  if (!e.lost.empty()) {
    uint64_t lost = e.len - e.data.size();
    preview = "[lost " + human_bytes(lost) + "] " + preview;
  }
  char line[512];
  snprintf(line, sizeof(line), kHeader, format_time(e.ts_ns, options_.utc).c_str(),
           printable(e.comm).c_str(), std::to_string(e.pid).c_str(),
           std::string(capture::dir_name(e.dir)).c_str(), std::to_string(e.len).c_str(),
           format_connection(e).c_str(), preview.c_str());
  out_ << line;
  if (options_.hex) write_hex_dump(out_, e.data);
  unwritten_.handed(false, e.data.size());
}

void TableExporter::on_record(const protocols::Record& r) {
  if (!record_header_written_) {
    out_ << format_record_header();
    record_header_written_ = true;
  }
  out_ << format_record_row(r, options_.utc);
  unwritten_.handed(true, 0);
}

void write_stats_text(std::ostream& out, const capture::Stats& s, bool final) {
  char line[512];
  snprintf(line, sizeof(line),
           "tlstap: %s%llu calls, %s; captured %.2f%% of bytes, %.2f%% of them attributed to a "
           "socket; %d libraries, %d probes attached\n",
           final ? "" : "so far: ", static_cast<unsigned long long>(s.calls),
           human_bytes(s.call_bytes).c_str(), 100.0 * s.captured_share(),
           100.0 * s.attributed_share(), s.targets_attached, s.probes_attached);
  out << line;
  if (s.records_enabled) {
    out << "tlstap: records: " << s.records << " HTTP/1 request/response pairs, " << s.records_http2
        << " HTTP/2 streams, " << s.records_mysql << " MySQL commands, " << s.records_postgres
        << " PostgreSQL commands (" << s.record_errors << " with an error); "
        << s.record_parse_errors << " times the bytes were not the protocol expected, "
        << s.record_gaps << " gaps in the streams";
    if (s.record_hpack_lost || s.record_overflows) {
      out << "; HTTP/2: " << s.record_hpack_lost << " directions' HPACK state lost, "
          << s.record_overflows << " over the parser's bounds";
    }
    if (s.record_mysql_compressed) {
      out << "; MySQL: " << s.record_mysql_compressed
          << " connections on the compressed protocol not parsed";
    }
    if (s.record_postgres_db_errors || s.record_postgres_unmatched) {
      out << "; PostgreSQL: " << s.record_postgres_db_errors << " answered with a server error, "
          << s.record_postgres_unmatched << " answers to no request seen";
    }
    out << "\n";
  }
  if (s.otlp_enabled) {
    out << "tlstap: otlp: " << s.otlp_spans_sent << " spans sent, " << s.otlp_spans_dropped
        << " dropped (send queue full, or left at exit), " << s.otlp_spans_failed << " not sent ("
        << s.otlp_failed_posts << " requests failed)\n";
  }
  write_losses_text(out, s);
}

void write_losses_text(std::ostream& out, const capture::Stats& s) {
  std::string lost;
  auto add = [&lost](const std::string& what) { lost += (lost.empty() ? "" : "; ") + what; };
  if (s.lost_ringbuf_calls) {
    add(std::to_string(s.lost_ringbuf_calls) + " calls cut, " + human_bytes(s.lost_ringbuf_bytes) +
        " (ring buffer full: raise --ring-size)");
  }
  if (s.lost_fault_records) {
    add(std::to_string(s.lost_fault_records) + " chunks, " + human_bytes(s.lost_fault_bytes) +
        " (memory not readable)");
  }
  if (s.lost_no_entry_calls) {
    add(std::to_string(s.lost_no_entry_calls) + " calls (per-thread state could not be stored)");
  }
  if (s.lost_too_deep_calls) {
    add(std::to_string(s.lost_too_deep_calls) + " calls (nested more than 4 deep in TLS calls)");
  }
  if (s.lost_nss_unchecked_calls) {
    add(std::to_string(s.lost_nss_unchecked_calls) +
        " NSPR calls (their descriptor's layers could not be checked for NSS's SSL layer)");
  }
  if (s.lost_ktls_splice_calls) {
    add(std::to_string(s.lost_ktls_splice_calls) + " kTLS splices, " +
        human_bytes(s.lost_ktls_splice_bytes) +
        " (spliced into a pipe, whose buffers this kernel does not number)");
  }
  if (s.lost_ktls_unreadable_calls) {
    add(std::to_string(s.lost_ktls_unreadable_calls) + " kTLS calls, " +
        human_bytes(s.lost_ktls_unreadable_bytes) + " (buffers of a kind tlstap cannot read)");
  }
  if (s.lost_chunk_limit_bytes) add(human_bytes(s.lost_chunk_limit_bytes) + " (chunk limit)");
  if (s.lost_keys_ringbuf || s.lost_keys_fault) {
    add(std::to_string(s.lost_keys_ringbuf + s.lost_keys_fault) +
        " reads of TLS secrets (ring buffer full or memory not readable; retried at the "
        "session's next call)");
  }
  if (s.key_sessions_unusable) {
    add(std::to_string(s.key_sessions_unusable) +
        " TLS sessions' secrets (they did not check out; no key log line written)");
  }
  if (s.lost_notify) {
    add(std::to_string(s.lost_notify) + " library-load notices (ring buffer full)");
  }
  if (s.lost_conn_ends) {
    add(std::to_string(s.lost_conn_ends) +
        " ends of TLS sessions (ring buffer full; their last records waited for the idle "
        "timeout)");
  }
  if (s.malformed_records) add(std::to_string(s.malformed_records) + " malformed records");
  if (s.unwritten_events || s.unwritten_records) {
    add(std::to_string(s.unwritten_events) + " events, " + human_bytes(s.unwritten_bytes) +
        ", and " + std::to_string(s.unwritten_records) +
        " records never written (the output failed)");
  }
  out << "tlstap: lost: " << (lost.empty() ? "nothing" : lost);
  if (s.incomplete_calls) out << " (" << s.incomplete_calls << " calls shown incomplete)";
  out << "\n";
  if (s.late_attaches) {
    out << "tlstap: " << s.late_attaches
        << " libraries were attached after a running process had loaded them: calls before "
           "that are unknown\n";
  }
}

void TableExporter::on_stats(const capture::Stats& s, bool final) {
  out_.flush();
  write_stats_text(status_, s, final);
  status_.flush();
}

}  // namespace tlstap::exporting
