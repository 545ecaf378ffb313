// Which packets belong to traced processes. The TC programs take every TCP
// packet on the chosen interfaces; a packet is admitted into the pcapng file
// when its connection is one a traced process used for TLS: the TLS events
// name the process and the socket's addresses, and the packet's own headers
// name the same four values.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>

#include "capture/events.h"
#include "pcapng/blocks.h"

namespace tlstap::packets {

// One end of a TCP connection; IPv4 in the first 4 bytes of addr (an
// IPv4-mapped IPv6 address is made IPv4, as it goes on the wire).
struct TcpEnd {
  uint8_t family = 0;  // AF_INET or AF_INET6
  std::array<uint8_t, 16> addr{};
  uint16_t port = 0;
  auto operator<=>(const TcpEnd&) const = default;
};

// A packet's sender and receiver.
struct TcpTuple {
  TcpEnd src, dst;
};

// The TCP tuple of a frame whose IP header starts at l3_offset; nullopt for
// anything else (not IPv4/IPv6, not TCP, cut too short, IPv6 extension
// headers before TCP).
std::optional<TcpTuple> parse_tcp_tuple(std::string_view frame, uint32_t l3_offset);

// A socket endpoint from an event as it appears in packets (v4-mapped made
// IPv4); nullopt when it is not an IP endpoint.
std::optional<TcpEnd> tcp_end(const capture::Endpoint& e);

class Connections {
 public:
  // A traced process (pid, comm) used the socket local -> remote at now_ns.
  void learn(const TcpEnd& local, const TcpEnd& remote, pid_t pid, std::string comm,
             uint64_t now_ns);
  // From a TLS event; false when it names no IP connection.
  bool learn(const capture::DataEvent& e);

  // Who sent the packet (its source is a traced socket's local end), else
  // who received it; nullopt when neither end is a traced socket. A hit
  // keeps the connection from expiring.
  std::optional<pcapng::PacketOwner> owner(const TcpTuple& t, uint64_t now_ns);

  // Forgets connections neither used nor seen in packets since
  // now_ns - idle_ns (a later connection may reuse the ports).
  void expire(uint64_t now_ns, uint64_t idle_ns);

  size_t size() const { return by_socket_.size(); }

 private:
  struct Owner {
    pid_t pid;
    std::string comm;
    uint64_t last_ns;
  };
  using Key = std::pair<TcpEnd, TcpEnd>;  // (local, remote)
  std::map<Key, Owner> by_socket_;
};

}  // namespace tlstap::packets
