#include "capture/pipeline.h"

#include "capture/decoder.h"

namespace tlstap::capture {

void Pipeline::on_record(std::span<const uint8_t> bytes, Clock::time_point now) {
  Record record = decode(bytes);
  if (auto* chunk = std::get_if<DataChunk>(&record)) {
    assembler_.add(*chunk, &ready_, now);
    deliver();
  } else if (auto* mapped = std::get_if<FileMappedEvent>(&record)) {
    if (on_file_mapped_) on_file_mapped_(*mapped);
  } else if (auto* secrets = std::get_if<SecretsEvent>(&record)) {
    secrets->ts_ns += realtime_offset_ns_;
    if (on_secrets_) on_secrets_(*secrets);
  } else if (auto* logged = std::get_if<LoggedSecretEvent>(&record)) {
    logged->ts_ns += realtime_offset_ns_;
    if (on_logged_secret_) on_logged_secret_(*logged);
  } else if (auto* packet = std::get_if<PacketEvent>(&record)) {
    packet->ts_ns += realtime_offset_ns_;
    if (on_packet_) on_packet_(*packet);
  } else if (auto* end = std::get_if<ConnEndEvent>(&record)) {
    end->ts_ns += realtime_offset_ns_;
    assembler_.finish_conn(end->conn_id, &ready_);
    deliver();
    if (on_conn_end_) on_conn_end_(*end);
  } else {
    ++stats_.malformed_records;
  }
}

void Pipeline::flush(Clock::time_point now, Clock::duration max_idle) {
  assembler_.flush(now, max_idle, &ready_);
  deliver();
}

void Pipeline::deliver() {
  for (const DataEvent& e : ready_) {
    stats_.count(e);
    on_event_(e);
  }
  ready_.clear();
}

}  // namespace tlstap::capture
