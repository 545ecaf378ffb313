#include "packets/connections.h"

#include <sys/socket.h>

#include <algorithm>
#include <cstring>

namespace tlstap::packets {
namespace {

constexpr uint8_t kTcp = 6;

uint16_t be16(std::string_view b, size_t at) {
  return static_cast<uint16_t>(static_cast<uint8_t>(b[at]) << 8 | static_cast<uint8_t>(b[at + 1]));
}

}  // namespace

std::optional<TcpTuple> parse_tcp_tuple(std::string_view frame, uint32_t l3_offset) {
  if (frame.size() <= l3_offset) return std::nullopt;
  std::string_view ip = frame.substr(l3_offset);
  TcpTuple t;
  size_t tcp = 0;
  const uint8_t version = static_cast<uint8_t>(ip[0]) >> 4;
  if (version == 4) {
    if (ip.size() < 20 || static_cast<uint8_t>(ip[9]) != kTcp) return std::nullopt;
    tcp = (static_cast<uint8_t>(ip[0]) & 0xf) * 4u;
    if (tcp < 20) return std::nullopt;
    t.src.family = t.dst.family = AF_INET;
    std::memcpy(t.src.addr.data(), ip.data() + 12, 4);
    std::memcpy(t.dst.addr.data(), ip.data() + 16, 4);
  } else if (version == 6) {
    if (ip.size() < 40 || static_cast<uint8_t>(ip[6]) != kTcp) return std::nullopt;
    tcp = 40;
    t.src.family = t.dst.family = AF_INET6;
    std::memcpy(t.src.addr.data(), ip.data() + 8, 16);
    std::memcpy(t.dst.addr.data(), ip.data() + 24, 16);
  } else {
    return std::nullopt;
  }
  if (ip.size() < tcp + 4) return std::nullopt;
  t.src.port = be16(ip, tcp);
  t.dst.port = be16(ip, tcp + 2);
  return t;
}

std::optional<TcpEnd> tcp_end(const capture::Endpoint& e) {
  TcpEnd end;
  end.port = e.port;
  if (e.family == AF_INET) {
    end.family = AF_INET;
    std::copy_n(e.addr.begin(), 4, end.addr.begin());
    return end;
  }
  if (e.family != AF_INET6) return std::nullopt;
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(std::begin(kMapped), std::end(kMapped), e.addr.begin())) {
    end.family = AF_INET;
    std::copy_n(e.addr.begin() + 12, 4, end.addr.begin());
    return end;
  }
  end.family = AF_INET6;
  end.addr = e.addr;
  return end;
}

void Connections::learn(const TcpEnd& local, const TcpEnd& remote, pid_t pid, std::string comm,
                        uint64_t now_ns) {
  Owner& o = by_socket_[{local, remote}];
  o.pid = pid;
  o.comm = std::move(comm);
  o.last_ns = std::max(o.last_ns, now_ns);
}

bool Connections::learn(const capture::DataEvent& e) {
  std::optional<TcpEnd> local = tcp_end(e.local), remote = tcp_end(e.remote);
  if (!local || !remote || local->port == 0 || remote->port == 0) return false;
  learn(*local, *remote, e.pid, e.comm, e.ts_ns);
  return true;
}

std::optional<pcapng::PacketOwner> Connections::owner(const TcpTuple& t, uint64_t now_ns) {
  auto found = by_socket_.find({t.src, t.dst});                            // the sender's socket
  if (found == by_socket_.end()) found = by_socket_.find({t.dst, t.src});  // the receiver's
  if (found == by_socket_.end()) return std::nullopt;
  found->second.last_ns = std::max(found->second.last_ns, now_ns);
  return pcapng::PacketOwner{.pid = static_cast<uint32_t>(found->second.pid),
                             .comm = found->second.comm};
}

void Connections::expire(uint64_t now_ns, uint64_t idle_ns) {
  std::erase_if(by_socket_,
                [&](const auto& entry) { return entry.second.last_ns + idle_ns < now_ns; });
}

}  // namespace tlstap::packets
