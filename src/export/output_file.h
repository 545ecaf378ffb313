// Where the JSON lines or the table go: a file (-w FILE, opened as every
// private output is: util/private_file.h) or standard output. Writes are
// buffered; the first write that fails is kept (its errno), and nothing is
// written after it, so the engine can say why it stopped, and count what
// never reached the output.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <ostream>
#include <streambuf>
#include <string>
#include <vector>

#include "capture/stats.h"
#include "util/error.h"

namespace tlstap::exporting {

class OutputBuf : public std::streambuf {
 public:
  explicit OutputBuf(int fd, bool owned) : fd_(fd), owned_(owned), buf_(1 << 20) {
    setp(buf_.data(), buf_.data() + buf_.size());
  }
  ~OutputBuf() override;
  OutputBuf(const OutputBuf&) = delete;
  OutputBuf& operator=(const OutputBuf&) = delete;

  int error() const { return error_; }
  uint64_t written() const { return written_; }
  uint64_t handed() const { return written_ + static_cast<uint64_t>(pptr() - pbase()); }

 protected:
  int_type overflow(int_type c) override;
  std::streamsize xsputn(const char* s, std::streamsize n) override;
  int sync() override { return drain() ? 0 : -1; }

 private:
  bool drain();  // writes what the buffer holds; false once a write failed

  int fd_;
  bool owned_;
  std::vector<char> buf_;
  int error_ = 0;
  uint64_t written_ = 0;
};

class Output : public std::ostream {
 public:
  // -w FILE: refused in one line as util/private_file.h says (ExitCode::kUsage).
  static Result<std::unique_ptr<Output>> open(const std::string& path);
  // Standard output (not closed at the end).
  static std::unique_ptr<Output> standard_output();

  // The path, or "standard output": for messages.
  const std::string& name() const { return name_; }
  // The errno of the write that failed (EPIPE: its reader went away), 0 while none did.
  int error() const { return buf_.error(); }
  // Bytes that reached the output, and bytes handed to it (these and those still buffered).
  uint64_t written() const { return buf_.written(); }
  uint64_t handed() const { return buf_.handed(); }

 private:
  Output(int fd, bool owned, std::string name)
      : std::ostream(nullptr), buf_(fd, owned), name_(std::move(name)) {
    rdbuf(&buf_);
  }

  OutputBuf buf_;
  std::string name_;
};

// Counts what an exporter handed to an Output that never reached it: each
// item (an event, a record) is remembered until the output has written past
// its end; once the output failed, those not written and every later one
// are lost.
class UnwrittenCounter {
 public:
  explicit UnwrittenCounter(const Output* out) : out_(out) {}
  // Right after one item's text was handed to the output.
  void handed(bool record, uint64_t bytes);
  // Adds the lost items to stats' unwritten_* counters.
  void add_to(capture::Stats* stats) const;

 private:
  struct Item {
    uint64_t end;  // Output::handed() after it
    bool record;
    uint64_t bytes;
  };
  static void count(const Item& item, capture::Stats* stats);

  const Output* out_;
  std::deque<Item> pending_;  // handed, not known to be written
  capture::Stats lost_;       // only the unwritten_* fields
};

}  // namespace tlstap::exporting
