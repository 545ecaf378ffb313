// The user-space pipeline alone: ring records -> events -> JSON lines or the
// table, in bytes of plaintext per second. The kernel side can emit faster
// than one core of tlstap consumes; this says how fast that core is.
#include <benchmark/benchmark.h>

#include <fstream>
#include <memory>

#include "capture/pipeline.h"
#include "export/json/json_lines.h"
#include "export/text/table.h"
#include "tests/unit/record_builder.h"

namespace {

using tlstap::testing::Call;

std::vector<std::vector<uint8_t>> Records(size_t size, size_t count) {
  std::vector<std::vector<uint8_t>> out;
  Call c;
  c.data.assign(size, 'x');
  for (size_t i = 0; i < count; ++i) {
    c.ts_ns += 1000;
    for (auto& rec : tlstap::testing::Chunks(c)) out.push_back(std::move(rec));
  }
  return out;
}

template <typename MakeExporter>
void run(benchmark::State& state, MakeExporter make_exporter) {
  const size_t size = state.range(0);
  auto records = Records(size, 64);
  std::ofstream sink("/dev/null");
  auto exporter = make_exporter(sink);
  tlstap::capture::Pipeline pipeline(
      0, [&](const tlstap::capture::DataEvent& e) { exporter->on_data(e); }, nullptr);
  auto now = tlstap::capture::Pipeline::Clock::now();
  for (auto _ : state) {
    for (const auto& rec : records) pipeline.on_record(rec, now);
    exporter->flush();
  }
  state.SetBytesProcessed(state.iterations() * 64 * size);
  state.SetItemsProcessed(state.iterations() * 64);
}

void BM_Json(benchmark::State& state) {
  run(state, [](std::ostream& out) {
    return std::make_unique<tlstap::exporting::JsonLinesExporter>(out);
  });
}

void BM_Table(benchmark::State& state) {
  run(state, [](std::ostream& out) {
    return std::make_unique<tlstap::exporting::TableExporter>(out, out,
                                                              tlstap::exporting::TableOptions{});
  });
}

BENCHMARK(BM_Json)->Arg(64)->Arg(16384)->Arg(1 << 20);
BENCHMARK(BM_Table)->Arg(64)->Arg(16384);

}  // namespace

BENCHMARK_MAIN();
