#include "pcapng/writer.h"

namespace tlstap::pcapng {
namespace {

// Large enough that write(2) costs little per packet, small enough that a
// reader following the file live is not far behind after each flush.
constexpr size_t kBufferBytes = 256 * 1024;

class FdOutput : public Output {
 public:
  FdOutput(std::string path, UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
  Result<void> write(std::string_view bytes) override { return write_all(fd_.get(), bytes, path_); }

 private:
  std::string path_;
  UniqueFd fd_;
};

class StringOutput : public Output {
 public:
  explicit StringOutput(std::string* out) : out_(out) {}
  Result<void> write(std::string_view bytes) override {
    out_->append(bytes);
    return {};
  }

 private:
  std::string* out_;
};

}  // namespace

std::string numbered_file_name(const std::string& path, unsigned index) {
  return index == 0 ? path : path + "." + std::to_string(index);
}

OutputOpener numbered_files(std::string path) {
  return [path = std::move(path)](unsigned index) -> Result<std::unique_ptr<Output>> {
    std::string name = numbered_file_name(path, index);
    Result<UniqueFd> fd = open_private_file(name, OpenMode::kTruncate);
    if (!fd) return std::unexpected(fd.error());
    return std::make_unique<FdOutput>(name, std::move(*fd));
  };
}

OutputOpener memory_outputs(std::vector<std::string>* files) {
  return [files](unsigned index) -> Result<std::unique_ptr<Output>> {
    // Outputs are opened one after another, and the writer is done with
    // the previous one when it opens the next: growing the vector may move
    // the earlier strings, never the one handed out last.
    files->resize(index + 1);
    return std::make_unique<StringOutput>(&(*files)[index]);
  };
}

Result<std::unique_ptr<Writer>> Writer::make(OutputOpener open, WriterOptions options) {
  std::unique_ptr<Writer> writer(new Writer(std::move(open), std::move(options)));
  Result<void> started = writer->start_file(0);
  if (!started) return std::unexpected(started.error());
  return writer;
}

Writer::~Writer() { (void)flush(); }

Result<void> Writer::start_file(unsigned index) {
  if (output_) {
    Result<void> flushed = flush();
    if (!flushed) return flushed;
  }
  Result<std::unique_ptr<Output>> output = open_(index);
  if (!output) return std::unexpected(output.error());
  output_ = std::move(*output);
  file_index_ = index;
  file_bytes_ = 0;
  packets_in_file_ = 0;
  std::string preamble;
  append_section_header(&preamble, options_.application);
  for (const Interface& interface : interfaces_) append_interface_description(&preamble, interface);
  if (!secrets_text_.empty()) append_decryption_secrets(&preamble, secrets_text_);
  return append(preamble);
}

Result<void> Writer::append(std::string_view bytes) {
  buffer_.append(bytes);
  file_bytes_ += bytes.size();
  if (buffer_.size() >= kBufferBytes) return flush();
  return {};
}

Result<void> Writer::flush() {
  if (buffer_.empty() || !output_) return {};
  std::string pending = std::move(buffer_);
  buffer_.clear();
  return output_->write(pending);
}

Result<uint32_t> Writer::add_interface(Interface interface) {
  std::string block;
  append_interface_description(&block, interface);
  interfaces_.push_back(std::move(interface));
  // Part of every file's start from now on; in this file it simply follows.
  Result<void> appended = append(block);
  if (!appended) return std::unexpected(appended.error());
  return static_cast<uint32_t>(interfaces_.size() - 1);
}

Result<void> Writer::write_secrets(std::span<const keys::KeyLogLine> lines) {
  std::string text;
  for (const keys::KeyLogLine& line : lines) {
    if (secrets_seen_.insert(line)) text += keys::format_key_log_line(line);
  }
  if (text.empty()) return {};
  secrets_text_ += text;
  std::string block;
  append_decryption_secrets(&block, text);
  return append(block);
}

Result<void> Writer::write_packet(const Packet& packet) {
  if (packet.interface_id >= interfaces_.size()) {
    return fail(ExitCode::kFailure, "pcapng: packet on interface " +
                                        std::to_string(packet.interface_id) + ", but only " +
                                        std::to_string(interfaces_.size()) + " described");
  }
  std::string block;
  append_enhanced_packet(&block, packet, interfaces_[packet.interface_id].snap_len);
  if (options_.rotate_bytes != 0 && packets_in_file_ > 0 &&
      file_bytes_ + block.size() > options_.rotate_bytes) {
    Result<void> started = start_file(file_index_ + 1);
    if (!started) return started;
  }
  ++packets_;
  ++packets_in_file_;
  return append(block);
}

}  // namespace tlstap::pcapng
