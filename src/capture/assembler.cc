#include "capture/assembler.h"

#include <algorithm>
#include <cstring>
#include <ctime>

#include "bpf/tlstap.h"

namespace tlstap::capture {

int64_t realtime_offset_ns() {
  timespec mono{}, real{};
  clock_gettime(CLOCK_MONOTONIC, &mono);
  clock_gettime(CLOCK_REALTIME, &real);
  auto ns = [](const timespec& t) { return int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec; };
  return ns(real) - ns(mono);
}

DataEvent CallAssembler::start(const DataChunk& chunk) const {
  const tlstap_data_event& h = chunk.header;
  DataEvent e;
  e.ts_ns = h.ts_ns + realtime_offset_ns_;
  e.cgroup_id = h.cgroup_id;
  e.conn_id = h.conn_id;
  e.stream_pos = h.stream_pos;
  e.pid = static_cast<pid_t>(h.pid);
  e.tid = static_cast<pid_t>(h.tid);
  e.uid = h.uid;
  e.fd = h.fd;
  e.lib = static_cast<Lib>(h.lib);
  e.dir = h.dir == TLSTAP_DIR_RX ? Dir::kRx : Dir::kTx;
  e.attribution = (h.flags & TLSTAP_F_FD_FROM_SYSCALL) ? Attribution::kSyscall
                  : (h.flags & TLSTAP_F_FD_CACHED)     ? Attribution::kCached
                  : (h.flags & TLSTAP_F_FD_THREAD)     ? Attribution::kThread
                  : (h.flags & TLSTAP_F_FD_FROM_CONN)  ? Attribution::kConn
                  : (h.flags & TLSTAP_F_SOCK_KERNEL)   ? Attribution::kSocket
                                                       : Attribution::kNone;
  e.ktls = h.flags & TLSTAP_F_KTLS;
  e.comm.assign(h.comm, strnlen(h.comm, sizeof(h.comm)));
  if (chunk.thread != e.comm) e.thread = chunk.thread;
  e.local.family = e.remote.family = h.family;
  std::copy(std::begin(h.laddr), std::end(h.laddr), e.local.addr.begin());
  std::copy(std::begin(h.raddr), std::end(h.raddr), e.remote.addr.begin());
  e.local.port = h.lport;
  e.remote.port = h.rport;
  e.len = h.call_len;
  return e;
}

void CallAssembler::finish(Pending* p, std::vector<DataEvent>* out) {
  if (p->next_offset < p->event.len) {
    p->event.lost.emplace_back(p->next_offset, p->event.len - p->next_offset);
  }
  out->push_back(std::move(p->event));
}

void CallAssembler::add(const DataChunk& chunk, std::vector<DataEvent>* out,
                        Clock::time_point now) {
  const tlstap_data_event& h = chunk.header;
  pid_t tid = static_cast<pid_t>(h.tid);
  auto it = pending_.find(tid);
  if (it != pending_.end() && it->second.mono_ts != h.ts_ns) {
    // The thread is on to its next call: the previous one will get no more.
    finish(&it->second, out);
    pending_.erase(it);
    it = pending_.end();
  }

  // The common case, a call in one chunk: no bookkeeping.
  if (it == pending_.end() && h.call_offset == 0 && h.data_len == h.call_len) {
    DataEvent e = start(chunk);
    e.data = Payload::borrow(chunk.payload);
    out->push_back(std::move(e));
    return;
  }

  if (it == pending_.end()) {
    Pending p;
    p.event = start(chunk);
    p.event.data.owned().reserve(h.call_len);
    p.mono_ts = h.ts_ns;
    it = pending_.emplace(tid, std::move(p)).first;
  }
  Pending& p = it->second;
  if (h.call_offset < p.next_offset) return;  // cannot happen unless records repeat
  if (h.call_offset > p.next_offset) {
    p.event.lost.emplace_back(p.next_offset, h.call_offset - p.next_offset);
  }
  p.event.data.owned().append(chunk.payload);
  p.next_offset = h.call_offset + h.data_len;
  p.last_arrival = now;
  if (p.next_offset == p.event.len) {
    out->push_back(std::move(p.event));
    pending_.erase(it);
  }
}

void CallAssembler::finish_conn(uint64_t conn_id, std::vector<DataEvent>* out) {
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->second.event.conn_id == conn_id) {
      finish(&it->second, out);
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
}

void CallAssembler::flush(Clock::time_point now, Clock::duration max_idle,
                          std::vector<DataEvent>* out) {
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (max_idle == Clock::duration::zero() || now - it->second.last_arrival >= max_idle) {
      finish(&it->second, out);
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace tlstap::capture
