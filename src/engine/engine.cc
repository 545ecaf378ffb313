#include "engine/engine.h"

#include <cerrno>
#include <iostream>

namespace tlstap::engine {
namespace {

// How long a call missing chunks may wait for them once the ring is drained.
constexpr auto kMaxCallIdle = std::chrono::milliseconds(200);
// How often records give up old holes and close idle connections.
constexpr auto kRecordExpiry = std::chrono::seconds(1);

uint64_t realtime_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Engine::Engine(loader::Probes& probes, Attacher& attacher, keys::KeyService* keys,
               std::vector<exporting::Sink*> sinks)
    : probes_(probes),
      attacher_(attacher),
      keys_(keys),
      pipeline_(
          capture::realtime_offset_ns(), [this](const capture::DataEvent& e) { on_data(e); },
          [this](const capture::FileMappedEvent& m) { attacher_.on_file_mapped(m); },
          [this](const capture::SecretsEvent& e) { on_secrets(e); },
          [this](const capture::LoggedSecretEvent& e) { on_logged_secret(e); }) {
  bool records = false, packets = false;
  for (exporting::Sink* sink : sinks) {
    sinks_.push_back({sink, sink->takes(), sink->stats_period(), {}});
    records |= sinks_.back().takes.records;
    packets |= sinks_.back().takes.packets;
  }
  // One record path, whoever takes its records: shown (--records), counted
  // (--metrics), sent as spans (--otlp), or all of them.
  if (records) {
    records_ =
        std::make_unique<protocols::Records>([this](const protocols::Record& r) { on_record(r); });
    pipeline_.set_conn_end_handler([this](const capture::ConnEndEvent& e) { on_conn_end(e); });
  }
  if (packets) {
    pipeline_.set_packet_handler([this](const capture::PacketEvent& p) { on_packet(p); });
  }
}

void Engine::on_data(const capture::DataEvent& e) {
  for (const Entry& s : sinks_) {
    if (s.takes.data) s.sink->on_data(e);
  }
  if (records_) records_->add(e);
}

void Engine::on_record(const protocols::Record& r) {
  for (const Entry& s : sinks_) {
    if (s.takes.records) s.sink->on_record(r);
  }
}

void Engine::on_conn_end(const capture::ConnEndEvent& e) { records_->close(e.conn_id); }

void Engine::on_secrets(const capture::SecretsEvent& e) {
  if (keys_) on_key_lines(keys_->lines_of(e));
}

void Engine::on_logged_secret(const capture::LoggedSecretEvent& e) {
  if (keys_) on_key_lines(keys_->lines_of(e));
}

void Engine::on_key_lines(const std::vector<keys::KeyLogLine>& lines) {
  for (const keys::KeyLogLine& line : lines) {
    for (const Entry& s : sinks_) {
      if (s.takes.key_lines) s.sink->on_key_line(line);
    }
  }
}

void Engine::on_packet(const capture::PacketEvent& p) {
  for (const Entry& s : sinks_) {
    if (s.takes.packets) s.sink->on_packet(p);
  }
}

capture::Stats Engine::snapshot() const {
  capture::Stats s = pipeline_.user_stats();
  s.set_kernel(probes_.read_counters());
  s.targets_attached = attacher_.targets_attached();
  s.probes_attached = probes_.attached_probes();
  s.late_attaches = attacher_.late_attaches();
  if (keys_) {
    s.key_sessions = keys_->sessions();
    s.key_sessions_unusable = keys_->unusable();
  }
  if (records_) records_->add_stats(&s);
  for (const Entry& e : sinks_) e.sink->add_stats(&s);
  return s;
}

void Engine::final_stats(const capture::Stats& stats) {
  for (const Entry& e : sinks_) e.sink->on_stats(stats, true);
}

bool Engine::sinks_failed() {
  bool failed = false;
  for (Entry& e : sinks_) {
    auto failure = e.sink->failure();
    if (!failure) continue;
    failed = true;
    if (!e.failure_said && failures_said_.insert(failure->message).second) {
      std::cerr << "tlstap: " << failure->message << "; stopping\n";
    }
    e.failure_said = true;
  }
  return failed;
}

bool Engine::output_failed() const {
  for (const Entry& e : sinks_) {
    auto failure = e.sink->failure();
    if (failure && !failure->reader_gone) return true;
  }
  return false;
}

bool Engine::tick(Clock::time_point now) {
  const uint64_t now_ns = realtime_now_ns();
  for (const Entry& e : sinks_) e.sink->flush(now_ns);
  if (sinks_failed()) return false;
  std::optional<capture::Stats> stats;
  for (Entry& e : sinks_) {
    if (!e.period || now < e.next_stats) continue;
    if (!stats) stats = snapshot();
    e.sink->on_stats(*stats, false);
    e.next_stats = now + *e.period;
  }
  return true;
}

void Engine::run(const std::atomic<bool>& stop) {
  auto handler = [this](std::span<const uint8_t> bytes) {
    pipeline_.on_record(bytes, Clock::now());
  };
  for (Entry& e : sinks_) {
    if (e.period) e.next_stats = Clock::now() + *e.period;
  }
  attacher_.start();
  while (!stop.load(std::memory_order_relaxed)) {
    int n = probes_.poll(100, handler);
    if (n < 0 && n != -EINTR) {
      std::cerr << "tlstap: reading the ring buffer failed (" << n << "); stopping\n";
      break;
    }
    auto now = Clock::now();
    attacher_.watch_ktls(now);
    pipeline_.flush(now, kMaxCallIdle);
    if (records_ && now >= next_record_expiry_) {
      records_->expire(realtime_now_ns());
      next_record_expiry_ = now + kRecordExpiry;
    }
    if (!tick(now)) break;
  }
  // Drain: everything the kernel emitted before the probes go away; then
  // the files noticed so far (a held process is continued once attached).
  while (probes_.poll(0, handler) > 0) {
  }
  attacher_.stop();
  pipeline_.flush(Clock::now(), Clock::duration::zero());
  // The last connections' messages: a request still waiting for its
  // response, a response delimited by the connection's end.
  if (records_) records_->close_all();
  const uint64_t now_ns = realtime_now_ns();
  for (const Entry& e : sinks_) {
    e.sink->finish();
    e.sink->flush(now_ns);
  }
  sinks_failed();
}

}  // namespace tlstap::engine
