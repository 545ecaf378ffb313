// A pcapng file (or a series of them) that Wireshark decrypts alone: secrets
// travel in Decryption Secrets Blocks, written before the packets they
// decrypt (tshark reads a file once, front to back, and decrypts a record
// with the secrets it has met so far).
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "keys/key_log.h"
#include "keys/key_log_set.h"
#include "pcapng/blocks.h"
#include "util/error.h"
#include "util/private_file.h"

namespace tlstap::pcapng {

// Where one file's bytes go.
class Output {
 public:
  virtual ~Output() = default;
  virtual Result<void> write(std::string_view bytes) = 0;
};

// Opens output number index: 0 for the first file, 1 after the first
// rotation, and so on.
using OutputOpener = std::function<Result<std::unique_ptr<Output>>(unsigned index)>;

// path, then path.1, path.2, ...: each created 0600 (truncated if it
// existed), never through a symbolic link. Nothing is ever deleted.
OutputOpener numbered_files(std::string path);
// The name numbered_files gives output index.
std::string numbered_file_name(const std::string& path, unsigned index);

// Each output as a string appended to *files, for tests and for callers
// that ship the bytes elsewhere.
OutputOpener memory_outputs(std::vector<std::string>* files);

// What the reorder buffer releases into.
class PacketSink {
 public:
  virtual ~PacketSink() = default;
  virtual Result<void> write_secrets(std::span<const keys::KeyLogLine> lines) = 0;
  virtual Result<void> write_packet(const Packet& packet) = 0;
};

struct WriterOptions {
  // Start a new file before a packet that would take the current one past
  // this many bytes; 0: never. A file always takes at least one packet.
  uint64_t rotate_bytes = 0;
  std::string application = "tlstap";  // shb_userappl
};

class Writer : public PacketSink {
 public:
  // Opens the first output and writes its Section Header Block.
  static Result<std::unique_ptr<Writer>> make(OutputOpener open, WriterOptions options = {});
  // Flushes what is buffered; errors there are lost, so callers flush first.
  ~Writer() override;
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Describes an interface (its IDB goes into this file and every later
  // one); returns its index for Packet::interface_id.
  Result<uint32_t> add_interface(Interface interface);

  // The lines not written before, as one Decryption Secrets Block in the
  // current file. Every later file starts with all of them, so each file
  // decrypts alone.
  Result<void> write_secrets(std::span<const keys::KeyLogLine> lines) override;

  // One Enhanced Packet Block; rotates first when the file is full. A packet
  // naming an interface that was not described is refused.
  Result<void> write_packet(const Packet& packet) override;

  // Hands everything buffered to the output.
  Result<void> flush();

  unsigned files_started() const { return file_index_ + 1; }
  uint64_t packets_written() const { return packets_; }

 private:
  Writer(OutputOpener open, WriterOptions options)
      : open_(std::move(open)), options_(std::move(options)) {}

  // Opens output index and writes SHB, every IDB and one DSB with every
  // secret so far.
  Result<void> start_file(unsigned index);
  // Adds bytes to the current file, handing them over in large writes.
  Result<void> append(std::string_view bytes);

  OutputOpener open_;
  WriterOptions options_;
  std::unique_ptr<Output> output_;
  unsigned file_index_ = 0;
  uint64_t file_bytes_ = 0;  // bytes of the current file, buffered ones included
  uint64_t packets_in_file_ = 0;
  uint64_t packets_ = 0;
  std::string buffer_;  // not yet handed to output_
  std::vector<Interface> interfaces_;
  keys::KeyLogSet secrets_seen_;
  std::string secrets_text_;  // every line written so far, for the next file's DSB
};

}  // namespace tlstap::pcapng
