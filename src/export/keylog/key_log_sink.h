// The key log (--keylog FILE, tlstap keys [-w FILE]): each key log line,
// as Wireshark's "(Pre)-Master-Secret log filename" reads it, written the
// moment it is known. To a KeyLogFile (unbuffered, 0600, appended to) or
// to an Output (tlstap keys to standard output), flushed per line: a
// reader waits for it.
#pragma once

#include <cstdint>
#include <memory>

#include "export/output_file.h"
#include "export/sink.h"
#include "keys/key_log_file.h"

namespace tlstap::exporting {

class KeyLogSink : public Sink {
 public:
  explicit KeyLogSink(std::unique_ptr<keys::KeyLogFile> file) : file_(std::move(file)) {}
  explicit KeyLogSink(Output& out) : out_(&out) {}

  Takes takes() const override { return {.key_lines = true}; }
  void on_key_line(const keys::KeyLogLine& line) override;
  std::optional<SinkFailure> failure() const override;

  uint64_t lines_written() const { return lines_; }
  // The file's path, or the output's name.
  std::string name() const { return file_ ? file_->path() : out_->name(); }

 private:
  std::unique_ptr<keys::KeyLogFile> file_;
  Output* out_ = nullptr;
  uint64_t lines_ = 0;
  std::optional<SinkFailure> failure_;
};

}  // namespace tlstap::exporting
