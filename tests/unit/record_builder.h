// Builds ring-buffer records byte for byte as the BPF side lays them out, so
// unit tests can drive the user-space pipeline without a kernel.
#pragma once

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "bpf/tlstap.h"

namespace tlstap::testing {

struct Call {
  uint64_t ts_ns = 1'000'000'000;  // monotonic
  uint32_t pid = 4242, tid = 4243, uid = 1000;
  int32_t fd = 5;
  uint8_t dir = TLSTAP_DIR_TX;
  uint8_t flags = TLSTAP_F_FD_FROM_SYSCALL;
  uint64_t conn_id = 7, stream_pos = 0;
  std::string comm = "curl";
  std::string thread;  // the thread's name in the record; empty: the same as comm
  std::string data;
};

inline tlstap_data_event Header(const Call& c) {
  tlstap_data_event h{};
  h.type = TLSTAP_RECORD_DATA;
  h.ts_ns = c.ts_ns;
  h.cgroup_id = 1;
  h.conn_id = c.conn_id;
  h.call_len = c.data.size();
  h.stream_pos = c.stream_pos;
  h.pid = c.pid;
  h.tid = c.tid;
  h.uid = c.uid;
  h.fd = c.fd;
  h.lib = TLSTAP_LIB_OPENSSL;
  h.dir = c.dir;
  h.flags = c.flags;
  h.family = AF_INET;
  h.lport = 51514;
  h.rport = 8443;
  inet_pton(AF_INET, "127.0.0.1", h.laddr);
  inet_pton(AF_INET, "127.0.0.2", h.raddr);
  std::strncpy(h.comm, c.comm.c_str(), sizeof(h.comm) - 1);
  return h;
}

// One record carrying bytes [offset, offset + len) of the call, padded like
// a size-classed ring reservation.
inline std::vector<uint8_t> Chunk(const Call& c, uint64_t offset, uint64_t len, size_t slack = 16) {
  tlstap_data_event h = Header(c);
  h.call_offset = offset;
  h.data_len = static_cast<uint32_t>(len);
  std::vector<uint8_t> rec(sizeof(tlstap_data_record) + len + slack, 0xee);
  std::memcpy(rec.data(), &h, sizeof(h));
  // the kernel's comm: NUL-terminated, zero-padded
  const std::string& thread = c.thread.empty() ? c.comm : c.thread;
  char name[TLSTAP_COMM_LEN] = {};
  std::strncpy(name, thread.c_str(), sizeof(name) - 1);
  std::memcpy(rec.data() + offsetof(tlstap_data_record, thread), name, sizeof(name));
  std::memcpy(rec.data() + sizeof(tlstap_data_record), c.data.data() + offset, len);
  return rec;
}

// Every record of the call, chunked like the kernel does.
inline std::vector<std::vector<uint8_t>> Chunks(const Call& c) {
  std::vector<std::vector<uint8_t>> out;
  for (uint64_t off = 0; off < c.data.size(); off += TLSTAP_CHUNK_MAX) {
    out.push_back(Chunk(c, off, std::min<uint64_t>(TLSTAP_CHUNK_MAX, c.data.size() - off)));
  }
  return out;
}

// The end of a TLS session, as the kernel sends it.
inline std::vector<uint8_t> ConnEnd(uint64_t conn_id, uint32_t pid = 4242,
                                    uint64_t ts_ns = 2'000'000'000) {
  tlstap_conn_end e{};
  e.type = TLSTAP_RECORD_CONN_END;
  e.pid = pid;
  e.ts_ns = ts_ns;
  e.conn_id = conn_id;
  std::vector<uint8_t> rec(sizeof(e));
  std::memcpy(rec.data(), &e, sizeof(e));
  return rec;
}

}  // namespace tlstap::testing
