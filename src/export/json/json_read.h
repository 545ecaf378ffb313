// tlstap's own JSON lines read back: a {"type":"data"} line becomes the
// DataEvent it was written from (a round trip through JsonLinesExporter
// gives the same event), so a recorded capture can be parsed again
// offline. The records benchmark (bench/records_bench.cc) replays recorded
// captures this way.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "capture/events.h"
#include "util/error.h"

namespace tlstap::exporting {

// The event of a data line; nullopt for the other line types (stats,
// record); an error for a line that is not tlstap's JSON.
Result<std::optional<capture::DataEvent>> parse_data_line(std::string_view line);

// Every data event of a file of JSON lines, plain or gzip-compressed; an
// error names the file and the line that is not tlstap's JSON.
Result<std::vector<capture::DataEvent>> read_data_events(const std::string& path);

}  // namespace tlstap::exporting
