#include "export/output_file.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "util/private_file.h"

namespace tlstap::exporting {

OutputBuf::~OutputBuf() {
  drain();
  if (owned_) close(fd_);
}

bool OutputBuf::drain() {
  const char* p = pbase();
  size_t left = static_cast<size_t>(pptr() - pbase());
  while (left > 0 && error_ == 0) {
    ssize_t n = write(fd_, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error_ = n < 0 ? errno : EIO;
      break;
    }
    p += n;
    left -= static_cast<size_t>(n);
    written_ += static_cast<uint64_t>(n);
  }
  // What a failed write left stays counted in handed(), never written.
  if (error_ != 0) {
    setp(buf_.data(), buf_.data() + buf_.size());
    pbump(static_cast<int>(left));  // keeps handed() counting it
    return false;
  }
  setp(buf_.data(), buf_.data() + buf_.size());
  return true;
}

OutputBuf::int_type OutputBuf::overflow(int_type c) {
  if (!drain()) return traits_type::eof();
  if (!traits_type::eq_int_type(c, traits_type::eof())) {
    *pptr() = traits_type::to_char_type(c);
    pbump(1);
  }
  return traits_type::not_eof(c);
}

std::streamsize OutputBuf::xsputn(const char* s, std::streamsize n) {
  if (error_ != 0) return 0;
  std::streamsize done = 0;
  while (done < n) {
    std::streamsize room = epptr() - pptr();
    if (room == 0) {
      if (!drain()) return done;
      continue;
    }
    std::streamsize take = std::min(room, n - done);
    std::memcpy(pptr(), s + done, static_cast<size_t>(take));
    pbump(static_cast<int>(take));
    done += take;
  }
  return done;
}

void UnwrittenCounter::count(const Item& item, capture::Stats* stats) {
  if (item.record) {
    ++stats->unwritten_records;
  } else {
    ++stats->unwritten_events;
    stats->unwritten_bytes += item.bytes;
  }
}

void UnwrittenCounter::handed(bool record, uint64_t bytes) {
  if (!out_) return;
  if (out_->error() != 0) {
    count({0, record, bytes}, &lost_);
    return;
  }
  while (!pending_.empty() && pending_.front().end <= out_->written()) pending_.pop_front();
  pending_.push_back({out_->handed(), record, bytes});
}

void UnwrittenCounter::add_to(capture::Stats* stats) const {
  stats->unwritten_events += lost_.unwritten_events;
  stats->unwritten_bytes += lost_.unwritten_bytes;
  stats->unwritten_records += lost_.unwritten_records;
  if (!out_ || out_->error() == 0) return;
  for (const Item& item : pending_) {
    if (item.end > out_->written()) count(item, stats);
  }
}

Result<std::unique_ptr<Output>> Output::open(const std::string& path) {
  Result<UniqueFd> fd = open_private_file(path, OpenMode::kTruncate);
  if (!fd) return std::unexpected(fd.error());
  return std::unique_ptr<Output>(new Output(fd->release(), true, path));
}

std::unique_ptr<Output> Output::standard_output() {
  return std::unique_ptr<Output>(new Output(STDOUT_FILENO, false, "standard output"));
}

}  // namespace tlstap::exporting
