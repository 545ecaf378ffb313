// What tlstap saw and what it lost, by cause: kernel counters plus what user
// space counted while turning records into events.
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "bpf/tlstap.h"
#include "capture/events.h"

namespace tlstap::capture {

struct Stats {
  // Kernel side (summed per-CPU counters), see enum tlstap_stat.
  uint64_t calls = 0, call_bytes = 0;
  uint64_t lost_ringbuf_bytes = 0, lost_ringbuf_calls = 0;
  uint64_t lost_fault_bytes = 0, lost_fault_records = 0;
  uint64_t lost_no_entry_calls = 0, lost_notify = 0, lost_chunk_limit_bytes = 0;
  uint64_t lost_too_deep_calls = 0;
  uint64_t lost_nss_unchecked_calls = 0;
  uint64_t lost_ktls_splice_bytes = 0, lost_ktls_splice_calls = 0;
  uint64_t lost_ktls_unreadable_bytes = 0, lost_ktls_unreadable_calls = 0;
  uint64_t stale_entries = 0, nested_calls = 0;
  // TLS sessions whose secrets could not be sent (ring full) or read (retried at the next call).
  uint64_t lost_keys_ringbuf = 0, lost_keys_fault = 0;
  // -w FILE.pcapng: packets the TC programs sent, lost (packets ring full,
  // unreadable) and sent cut to TLSTAP_PACKET_MAX bytes.
  uint64_t packets = 0, lost_packets_ringbuf = 0, lost_packets_read = 0, packets_truncated = 0;
  // Ends of TLS sessions not sent (ring full): their records waited for the idle timeout.
  uint64_t lost_conn_ends = 0;
  // User side.
  // Sessions whose secrets arrived, and those whose secrets did not check
  // out (written nowhere: a wrong line would only make Wireshark fail).
  uint64_t key_sessions = 0, key_sessions_unusable = 0;
  uint64_t events = 0, captured_bytes = 0, attributed_bytes = 0;
  uint64_t incomplete_calls = 0, malformed_records = 0;
  int targets_attached = 0, probes_attached = 0;
  // Events (and the plaintext bytes they captured) and records handed to
  // the output after it failed, or buffered when it did: never written.
  uint64_t unwritten_events = 0, unwritten_bytes = 0, unwritten_records = 0;
  // Libraries attached after a running process had loaded them: its calls
  // before that moment, if any, were not seen (not counted in lost: unknown).
  uint64_t late_attaches = 0;
  // Protocol records (--records, filled by the session): HTTP/1
  // request/response pairs and HTTP/2 streams made; for both protocols,
  // those with an error, times bytes were not the protocol where a message
  // or frame was expected, and gaps (bytes that never arrived) in the
  // streams the parsers read. HTTP/2 only: connection directions whose HPACK
  // state was given up (later headers not decoded), and frames, header
  // blocks or streams over the parser's bounds. MySQL: commands paired with
  // their responses, connections on the compressed protocol (not parsed);
  // its statements cut and prepared statements not remembered are overflows.
  // PostgreSQL: commands made records (records_postgres), those the server
  // answered with an error (not counted in record_errors: the capture was
  // fine), and server messages that answered no client message seen; its
  // texts cut and commands or statements over its bounds are overflows.
  bool records_enabled = false;
  uint64_t records = 0, record_errors = 0, record_parse_errors = 0, record_gaps = 0;
  uint64_t records_http2 = 0, record_hpack_lost = 0, record_overflows = 0;
  uint64_t records_mysql = 0, record_mysql_compressed = 0;
  uint64_t records_postgres = 0, record_postgres_db_errors = 0, record_postgres_unmatched = 0;
  // --otlp (filled by the session): spans the collector took, spans dropped
  // (the send queue was full, or still held at exit), spans in POSTs that
  // failed, and those POSTs.
  bool otlp_enabled = false;
  uint64_t otlp_spans_sent = 0, otlp_spans_dropped = 0, otlp_spans_failed = 0;
  uint64_t otlp_failed_posts = 0;

  template <typename Counters>
  void set_kernel(const Counters& c);

  void count(const DataEvent& e) {
    ++events;
    captured_bytes += e.data.size();
    if (e.attributed()) attributed_bytes += e.data.size();
    if (!e.lost.empty()) ++incomplete_calls;
  }

  // Every loss counter with its stable name, for exporters.
  std::vector<std::pair<std::string_view, uint64_t>> lost() const {
    return {{"ringbuf_bytes", lost_ringbuf_bytes},
            {"ringbuf_calls", lost_ringbuf_calls},
            {"fault_bytes", lost_fault_bytes},
            {"fault_records", lost_fault_records},
            {"no_entry_calls", lost_no_entry_calls},
            {"too_deep_calls", lost_too_deep_calls},
            {"nss_unchecked_calls", lost_nss_unchecked_calls},
            {"ktls_splice_bytes", lost_ktls_splice_bytes},
            {"ktls_splice_calls", lost_ktls_splice_calls},
            {"ktls_unreadable_bytes", lost_ktls_unreadable_bytes},
            {"ktls_unreadable_calls", lost_ktls_unreadable_calls},
            {"chunk_limit_bytes", lost_chunk_limit_bytes},
            {"keys_ringbuf", lost_keys_ringbuf},
            {"keys_fault", lost_keys_fault},
            {"keys_unusable", key_sessions_unusable},
            {"notify", lost_notify},
            {"conn_ends", lost_conn_ends},
            {"incomplete_calls", incomplete_calls},
            {"malformed_records", malformed_records},
            {"output_events", unwritten_events},
            {"output_bytes", unwritten_bytes},
            {"output_records", unwritten_records}};
  }

  double captured_share() const { return share(captured_bytes, call_bytes); }
  double attributed_share() const { return share(attributed_bytes, captured_bytes); }

 private:
  static double share(uint64_t part, uint64_t whole) {
    return whole ? static_cast<double>(part) / static_cast<double>(whole) : 1.0;
  }
};

template <typename Counters>
void Stats::set_kernel(const Counters& c) {
  calls = c[TLSTAP_STAT_CALLS];
  call_bytes = c[TLSTAP_STAT_CALL_BYTES];
  lost_ringbuf_bytes = c[TLSTAP_STAT_LOST_RINGBUF_BYTES];
  lost_ringbuf_calls = c[TLSTAP_STAT_LOST_RINGBUF_CALLS];
  lost_fault_bytes = c[TLSTAP_STAT_LOST_FAULT_BYTES];
  lost_fault_records = c[TLSTAP_STAT_LOST_FAULT_RECORDS];
  lost_no_entry_calls = c[TLSTAP_STAT_LOST_NO_ENTRY_CALLS];
  lost_notify = c[TLSTAP_STAT_LOST_NOTIFY];
  lost_chunk_limit_bytes = c[TLSTAP_STAT_LOST_CHUNK_LIMIT_BYTES];
  lost_too_deep_calls = c[TLSTAP_STAT_LOST_TOO_DEEP_CALLS];
  lost_nss_unchecked_calls = c[TLSTAP_STAT_LOST_NSS_UNCHECKED_CALLS];
  lost_ktls_splice_bytes = c[TLSTAP_STAT_LOST_KTLS_SPLICE_BYTES];
  lost_ktls_splice_calls = c[TLSTAP_STAT_LOST_KTLS_SPLICE_CALLS];
  lost_ktls_unreadable_bytes = c[TLSTAP_STAT_LOST_KTLS_UNREADABLE_BYTES];
  lost_ktls_unreadable_calls = c[TLSTAP_STAT_LOST_KTLS_UNREADABLE_CALLS];
  stale_entries = c[TLSTAP_STAT_STALE_ENTRIES];
  nested_calls = c[TLSTAP_STAT_NESTED_CALLS];
  lost_keys_ringbuf = c[TLSTAP_STAT_LOST_KEYS_RINGBUF];
  lost_keys_fault = c[TLSTAP_STAT_LOST_KEYS_FAULT];
  packets = c[TLSTAP_STAT_PACKETS];
  lost_packets_ringbuf = c[TLSTAP_STAT_LOST_PACKETS_RINGBUF];
  lost_packets_read = c[TLSTAP_STAT_LOST_PACKETS_READ];
  packets_truncated = c[TLSTAP_STAT_PACKETS_TRUNCATED];
  lost_conn_ends = c[TLSTAP_STAT_LOST_CONN_ENDS];
}

}  // namespace tlstap::capture
