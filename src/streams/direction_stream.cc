#include "streams/direction_stream.h"

#include <algorithm>
#include <iterator>
#include <utility>

namespace tlstap::streams {

void DirectionStream::add(uint64_t pos, std::string_view bytes, uint64_t ts_ns, Delivery* out) {
  note_time(ts_ns);
  if (bytes.empty()) return;
  uint64_t end = pos + bytes.size();
  for (;;) {
    if (end <= next_pos_) {
      stats_->duplicate_bytes += end - pos;
      return;
    }
    if (pos < next_pos_) {
      stats_->duplicate_bytes += next_pos_ - pos;
      bytes.remove_prefix(next_pos_ - pos);
      pos = next_pos_;
    }
    bool held_in_range = !pending_.empty() && pending_.begin()->first < end;
    if (pos == next_pos_ && !held_in_range) {
      // The common case: in order. Handed on from the event's own buffer.
      out->on_data(pos, bytes, ts_ns);
      stats_->delivered_bytes += bytes.size();
      next_pos_ = end;
      deliver(out);
      return;
    }
    if (pos == next_pos_ || pending_bytes_ + (end - pos) <= limits_->max_pending_bytes) break;
    // No room to hold it: the holes in front of it will not be waited for.
    // Never drops bytes that arrived; at worst one event over the bound.
    give_up_hole(pending_.empty() ? pos : std::min(pos, pending_.begin()->first), out);
  }
  insert(pos, end, bytes, ts_ns, /*lost=*/false);
  deliver(out);
  expire(now_ns_, out);
}

void DirectionStream::add_lost(uint64_t pos, uint64_t len, uint64_t ts_ns, Delivery* out) {
  note_time(ts_ns);
  uint64_t end = pos + len;
  if (end <= next_pos_) return;  // already handed on, or already a gap
  pos = std::max(pos, next_pos_);
  insert(pos, end, {}, ts_ns, /*lost=*/true);
  deliver(out);
}

void DirectionStream::expire(uint64_t now_ns, Delivery* out) {
  if (pending_.empty() || hole_since_ns_ == 0) return;
  if (now_ns < hole_since_ns_ || now_ns - hole_since_ns_ < limits_->max_hole_age_ns) return;
  // Everything held arrived after the hole opened, so it waited at most as
  // long: nothing is gained by waiting for later holes one by one.
  flush(out);
}

void DirectionStream::flush(Delivery* out) {
  deliver(out);
  while (!pending_.empty()) give_up_hole(pending_.begin()->first, out);
}

void DirectionStream::insert(uint64_t pos, uint64_t end, std::string_view bytes, uint64_t ts_ns,
                             bool lost) {
  uint64_t cur = pos;
  auto it = pending_.lower_bound(pos);
  if (it != pending_.begin()) {
    auto prev = std::prev(it);
    uint64_t prev_end = prev->first + prev->second.len;
    if (prev_end > cur) {
      uint64_t covered_end = std::min(prev_end, end);
      if (!lost) stats_->duplicate_bytes += covered_end - cur;
      cur = covered_end;
    }
  }
  while (cur < end) {
    uint64_t next_start = it == pending_.end() ? end : std::min(end, it->first);
    if (next_start > cur) {
      uint64_t n = next_start - cur;
      Piece piece{n, lost ? std::string() : std::string(bytes.substr(cur - pos, n)), ts_ns, lost};
      pending_.emplace_hint(it, cur, std::move(piece));
      if (lost) {
        stats_->lost_bytes += n;
      } else {
        pending_bytes_ += n;
      }
      cur = next_start;
    }
    if (it != pending_.end() && it->first < end) {
      // Held already: the first copy wins (a retransmitted chunk is the same bytes).
      uint64_t covered_end = std::min(it->first + it->second.len, end);
      if (!lost) stats_->duplicate_bytes += covered_end - it->first;
      cur = std::max(cur, covered_end);
      ++it;
    }
  }
}

void DirectionStream::deliver(Delivery* out) {
  uint64_t gap_pos = 0, gap_len = 0;
  auto end_gap = [&] {
    if (gap_len == 0) return;
    out->on_gap(gap_pos, gap_len);
    ++stats_->gaps;
    gap_len = 0;
  };
  while (!pending_.empty() && pending_.begin()->first == next_pos_) {
    auto node = pending_.extract(pending_.begin());
    Piece& piece = node.mapped();
    if (piece.lost) {
      if (gap_len == 0) gap_pos = next_pos_;
      gap_len += piece.len;
    } else {
      end_gap();
      pending_bytes_ -= piece.len;
      stats_->delivered_bytes += piece.len;
      out->on_data(next_pos_, piece.bytes, piece.ts_ns);
    }
    next_pos_ += piece.len;
  }
  end_gap();
  if (pending_.empty()) {
    hole_since_ns_ = 0;
  } else if (hole_since_ns_ == 0) {
    hole_since_ns_ = std::max<uint64_t>(now_ns_, 1);
  }
}

void DirectionStream::give_up_hole(uint64_t up_to, Delivery* out) {
  if (up_to > next_pos_) {
    pending_.emplace(next_pos_, Piece{up_to - next_pos_, {}, now_ns_, true});
    stats_->hole_bytes += up_to - next_pos_;
    ++stats_->holes_given_up;
  }
  hole_since_ns_ = 0;  // a hole behind this one starts its own clock
  deliver(out);
}

}  // namespace tlstap::streams
