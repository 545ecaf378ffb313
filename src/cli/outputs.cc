#include "cli/outputs.h"

#include <unistd.h>

#include <iostream>

#include "export/json/json_lines.h"
#include "export/text/table.h"
#include "keys/key_log_file.h"
#include "pcapng/writer.h"

namespace tlstap::cli {
namespace {

std::string host_name() {
  char name[256] = {};
  gethostname(name, sizeof(name) - 1);
  return name;
}

}  // namespace

Result<std::unique_ptr<Outputs>> Outputs::open(const Options& options,
                                               std::function<void(const std::string&)> report) {
  std::unique_ptr<Outputs> o(new Outputs(options));
  // --metrics listens before anything is attached: a port in use stops here.
  if (options.metrics && !options.list) {
    o->metrics_ = std::make_unique<exporting::Metrics>();
    auto started = exporting::MetricsServer::make(*options.metrics, *o->metrics_);
    if (!started) return std::unexpected(started.error());
    o->metrics_server_ = std::move(*started);
  }
  // --otlp: the sender thread starts now; nothing is sent before a record.
  if (!options.otlp_url.empty() && !options.list) {
    auto transport = exporting::otlp::make_curl_transport(options.otlp_url);
    if (!transport) return std::unexpected(transport.error());
    o->otlp_ = std::make_unique<exporting::otlp::Sender>(
        std::move(*transport),
        exporting::otlp::Origin{.host_name = host_name(), .scope_version = TLSTAP_VERSION},
        options.otlp_url, std::move(report));
  }
  // The JSON lines or the table: -w FILE, or standard output. Either way a
  // write that fails stops the engine, which says why.
  const bool to_file = !options.write_path.empty();
  if (to_file) {
    auto opened = exporting::Output::open(options.write_path);
    if (!opened) return std::unexpected(opened.error());
    o->output_ = std::move(*opened);
  } else {
    o->output_ = exporting::Output::standard_output();
  }
  // The key log file (a symbolic link there is refused), or tlstap keys to
  // standard output.
  if (!options.keylog_path.empty()) {
    auto opened = keys::KeyLogFile::open(options.keylog_path);
    if (!opened) return std::unexpected(opened.error());
    o->key_sink_ = std::make_unique<exporting::KeyLogSink>(std::move(*opened));
  } else if (options.keys_only) {
    o->key_sink_ = std::make_unique<exporting::KeyLogSink>(*o->output_);
  }
  // -w FILE.pcapng: the interfaces, then the file.
  if (!options.pcapng_path.empty()) {
    std::vector<std::string> skipped;
    auto chosen = packets::choose_interfaces(options.interfaces, &skipped);
    if (!chosen) return std::unexpected(chosen.error());
    for (const std::string& why : skipped) {
      std::cerr << "tlstap: packets not taken: " << why << "\n";
    }
    o->interfaces_ = std::move(*chosen);
    auto made = packets::PacketCapture::make(pcapng::numbered_files(options.pcapng_path),
                                             {.delay_ns = options.reorder_delay_ms * 1'000'000ull,
                                              .rotate_bytes = options.rotate_mib << 20});
    if (!made) return std::unexpected(made.error());
    o->packet_capture_ = std::move(*made);
    o->packet_sink_ = std::make_unique<packets::PacketSink>(*o->packet_capture_);
  }
  if (to_file || options.json) {
    o->exporter_ = std::make_unique<exporting::JsonLinesExporter>(*o->output_);
  } else {
    o->exporter_ = std::make_unique<exporting::TableExporter>(
        *o->output_, std::cerr, exporting::TableOptions{.hex = options.hex});
  }
  // The calls' data is shown unless only records were asked for, or
  // packets are written instead.
  const bool packets = o->packet_capture_ != nullptr;
  o->exporter_->show({.data = !packets && options.events, .records = options.records && !packets});
  if (options.stats_interval) {
    o->exporter_->set_stats_period(std::chrono::seconds(*options.stats_interval));
  }
  return o;
}

std::vector<exporting::Sink*> Outputs::sinks() const {
  std::vector<exporting::Sink*> sinks;
  // tlstap keys shows no data: its table is there for --stats alone.
  if (!options_.keys_only || options_.stats_interval) sinks.push_back(exporter_.get());
  if (packet_sink_) sinks.push_back(packet_sink_.get());
  if (key_sink_) sinks.push_back(key_sink_.get());
  if (metrics_server_) sinks.push_back(metrics_.get());
  if (otlp_) sinks.push_back(otlp_.get());
  return sinks;
}

Result<void> Outputs::attach_packets(loader::Probes& probes, bool verbose) {
  if (!packet_capture_) return {};
  std::string names;
  for (const packets::NetInterface& iface : interfaces_) {
    loader::PacketInterface where{.ifindex = iface.ifindex,
                                  .name = iface.name,
                                  .l3_offset = iface.l3_offset,
                                  .ingress = !iface.loopback,
                                  .egress = true};
    if (auto added = packet_capture_->add_interface(iface); !added) {
      return std::unexpected(added.error());
    }
    auto how = probes.attach_packets(where);
    if (!how) return fail(ExitCode::kInterface, how.error().message);
    names += (names.empty() ? "" : ", ") + iface.name;
    if (verbose) std::cerr << "tlstap: packets on " << iface.name << " (" << *how << ")\n";
  }
  std::cerr << "tlstap: writing the packets of traced connections on " << names << " to "
            << options_.pcapng_path << "\n";
  return {};
}

void Outputs::say_started(std::ostream& err) const {
  if (otlp_) err << "tlstap: sending spans to " << options_.otlp_url << "\n";
  if (metrics_server_) {
    err << "tlstap: metrics at http://" << exporting::format_metrics_address(*options_.metrics)
        << "/metrics\n";
  }
}

void Outputs::stop_senders() {
  if (otlp_) otlp_->close(std::chrono::seconds(2));
}

bool Outputs::finish(std::ostream& err, const capture::Stats& final, uint64_t key_lines) {
  if (packet_capture_) {
    const packets::CaptureStats p = packet_capture_->stats();
    const capture::Stats& k = final;
    err << "tlstap: packets: " << p.written << " written to " << p.files
        << (p.files == 1 ? " file" : " files") << " (" << options_.pcapng_path
        << (p.files > 1 ? ", .1, ..." : "") << "); " << p.received << " taken, " << p.unadmitted
        << " of connections no traced process used, " << p.not_tcp + p.unknown_interface
        << " unreadable; " << p.held << " still held, " << p.released_early << " released early, "
        << p.late << " out of order; lost " << k.lost_packets_ringbuf << " (ring full), "
        << k.lost_packets_read << " (unreadable), " << k.packets_truncated << " cut to "
        << TLSTAP_PACKET_MAX << " bytes; keys of " << k.key_sessions << " TLS sessions, "
        << key_lines << " key log lines\n";
    if (packet_sink_->failure()) return true;
  }
  if (key_sink_ && !options_.keylog_path.empty()) {
    err << "tlstap: keys of " << final.key_sessions << " TLS sessions, " << key_lines
        << " key log lines written to " << options_.keylog_path << "\n";
  }
  return false;
}

void Outputs::say_final_stats(std::ostream& err, const capture::Stats& final) const {
  exporter_->flush();
  const bool to_file = !options_.write_path.empty();
  if (to_file || (options_.json && exporter_->failed())) {
    exporting::write_stats_text(err, final, true);
  }
}

}  // namespace tlstap::cli
