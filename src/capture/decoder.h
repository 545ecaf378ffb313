// Ring-buffer record bytes -> typed records. Records are copied into aligned
// structs before any field is read; malformed ones are rejected, not trusted.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <variant>

#include "bpf/tlstap.h"
#include "capture/events.h"

namespace tlstap::capture {

// One chunk of a call, pointing into the ring buffer (valid during the callback).
struct DataChunk {
  tlstap_data_event header;
  std::string_view thread;  // the calling thread's name (header.comm: its process's)
  std::string_view payload;
};

struct Malformed {};

// SecretsEvent's, LoggedSecretEvent's, PacketEvent's and ConnEndEvent's
// ts_ns are still CLOCK_MONOTONIC here.
using Record = std::variant<Malformed, DataChunk, FileMappedEvent, SecretsEvent, LoggedSecretEvent,
                            PacketEvent, ConnEndEvent>;

Record decode(std::span<const uint8_t> bytes);

}  // namespace tlstap::capture
