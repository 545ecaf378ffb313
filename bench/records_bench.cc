// The --records pipeline alone (protocols::Records: reassembly per connection,
// routing, HTTP/1 and HTTP/2 parsing, request/response pairing), fed
// captures recorded from real programs, in plaintext bytes and records per
// second of one core; and the memory 10 000 open connections hold.
//
// The recordings (bench/data/*.jsonl.gz) are `tlstap --json --comm curl
// --comm nginx` while curl fetched pages from nginx over TLS, both ends
// traced, so each request is seen twice (client and server):
//   nginx_http1: curl --http1.1, 100 GETs (612 B, 4 KiB and 16 KiB pages,
//     404s) on one keep-alive connection, then POSTs and chunked POSTs
//   nginx_http2: curl --http2, the same GETs multiplexed (-Z) on one
//     connection, then 3 connections of 6 GETs each
// (bench/README.md has the details.)
// Each replay gives every connection a new conn_id (so each iteration
// opens and closes its connections, as live traffic does) and closes them
// all at its end.
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "export/json/json_read.h"
#include "protocols/records.h"

namespace {

using tlstap::capture::DataEvent;

std::vector<DataEvent> Load(const std::string& name) {
  auto events = tlstap::exporting::read_data_events(std::string(TLSTAP_BENCH_DATA) + "/" + name +
                                                    ".jsonl.gz");
  if (!events) {
    fprintf(stderr, "records_bench: %s\n", events.error().message.c_str());
    std::exit(1);
  }
  return std::move(*events);
}

void Replay(benchmark::State& state, const std::string& recording) {
  std::vector<DataEvent> events = Load(recording);
  uint64_t records = 0, bytes = 0, errors = 0;
  for (const DataEvent& e : events) bytes += e.data.size();
  tlstap::protocols::Records pipeline([&](const tlstap::protocols::Record& r) {
    ++records;
    errors += !r.error.empty();
  });
  uint64_t last_conn_id = 0;
  for (const DataEvent& e : events) last_conn_id = std::max(last_conn_id, e.conn_id);
  for (auto _ : state) {
    for (DataEvent& e : events) {
      pipeline.add(e);
      e.conn_id += last_conn_id;  // the next replay's connections are new
    }
    pipeline.close_all();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
  state.SetItemsProcessed(static_cast<int64_t>(records));  // items: records
  state.counters["records_per_replay"] = static_cast<double>(records) / state.iterations();
  state.counters["incomplete_records"] = static_cast<double>(errors);
  state.counters["events_per_replay"] = static_cast<double>(events.size());
}

void BM_RecordsHttp1(benchmark::State& state) { Replay(state, "nginx_http1"); }
void BM_RecordsHttp2(benchmark::State& state) { Replay(state, "nginx_http2"); }

// Heap in use (glibc's arena and mmapped chunks), in bytes.
size_t HeapInUse() {
  struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

// The first event of each direction of the recording's first connection:
// a request and the start of its response (HTTP/1: a GET and its headers;
// HTTP/2: the preface, SETTINGS and HEADERS, and the server's SETTINGS).
std::vector<DataEvent> Opening(const std::string& recording) {
  std::vector<DataEvent> events = Load(recording), out;
  bool seen[2] = {false, false};
  const uint64_t conn = events.at(0).conn_id;
  for (DataEvent& e : events) {
    size_t d = tlstap::capture::dir_index(e.dir);
    if (e.conn_id == conn && !seen[d]) {
      seen[d] = true;
      out.push_back(std::move(e));
    }
  }
  return out;
}

// 10 000 connections each left open after its first request and the first
// bytes of its response: what the trackers hold per connection waiting
// for the rest. Reported as heap bytes per connection.
void OpenConnections(benchmark::State& state, const std::string& recording) {
  constexpr uint64_t kConnections = 10'000;
  std::vector<DataEvent> opening = Opening(recording);
  for (auto _ : state) {
    state.PauseTiming();
    size_t before = HeapInUse();
    auto pipeline =
        std::make_unique<tlstap::protocols::Records>([](const tlstap::protocols::Record&) {});
    state.ResumeTiming();
    for (uint64_t c = 1; c <= kConnections; ++c) {
      for (DataEvent& e : opening) {
        e.conn_id = c;
        pipeline->add(e);
      }
    }
    state.PauseTiming();
    state.counters["heap_bytes_per_conn"] =
        static_cast<double>(HeapInUse() - before) / kConnections;
    state.counters["heap_MiB"] = static_cast<double>(HeapInUse() - before) / (1 << 20);
    pipeline.reset();
    state.ResumeTiming();
  }
  state.counters["connections"] = kConnections;
}

void BM_OpenConnectionsHttp1(benchmark::State& state) { OpenConnections(state, "nginx_http1"); }
void BM_OpenConnectionsHttp2(benchmark::State& state) { OpenConnections(state, "nginx_http2"); }

}  // namespace

BENCHMARK(BM_RecordsHttp1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RecordsHttp2)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_OpenConnectionsHttp1)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_OpenConnectionsHttp2)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK_MAIN();
