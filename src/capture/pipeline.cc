#include "capture/pipeline.h"

#include "capture/decoder.h"

namespace tlstap::capture {

void Pipeline::OnRecord(std::span<const uint8_t> bytes, Clock::time_point now) {
  Record record = Decode(bytes);
  if (auto* chunk = std::get_if<DataChunk>(&record)) {
    assembler_.Add(*chunk, &ready_, now);
  } else if (auto* mapped = std::get_if<FileMappedEvent>(&record)) {
    if (on_file_mapped_) on_file_mapped_(*mapped);
  } else {
    ++stats_.malformed_records;
  }
}

std::vector<DataEvent> Pipeline::Take(Clock::time_point now, Clock::duration max_idle) {
  assembler_.Flush(now, max_idle, &ready_);
  for (const DataEvent& e : ready_) stats_.Count(e);
  return std::exchange(ready_, {});
}

}  // namespace tlstap::capture
