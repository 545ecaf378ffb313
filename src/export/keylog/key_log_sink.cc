#include "export/keylog/key_log_sink.h"

namespace tlstap::exporting {

void KeyLogSink::on_key_line(const keys::KeyLogLine& line) {
  if (failure_) return;
  if (file_) {
    auto written = file_->write(line);
    if (!written) {
      failure_ = SinkFailure{written.error().message};
      return;
    }
    lines_ += *written;
    return;
  }
  *out_ << keys::format_key_log_line(line) << std::flush;
  if (!out_->bad()) ++lines_;
}

std::optional<SinkFailure> KeyLogSink::failure() const {
  if (failure_ || file_ || !out_->bad()) return failure_;
  return write_failure(out_->name(), out_->error());
}

}  // namespace tlstap::exporting
