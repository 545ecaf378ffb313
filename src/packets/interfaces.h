// The network interfaces packets are taken on (-i), as the kernel names
// them, and how their frames start.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/error.h"

namespace tlstap::packets {

struct NetInterface {
  int ifindex = 0;
  std::string name;
  // ARPHRD_* from /sys/class/net/NAME/type: 1 Ethernet, 772 loopback,
  // 65534 none (tun, WireGuard: frames start at the IP header).
  int arp_type = 0;
  bool loopback = false;
  uint16_t link_type = 0;  // pcapng LINKTYPE_*
  uint32_t l3_offset = 0;  // where the IP header starts in a frame
};

// names empty: every interface that is up, loopback included (those of a
// link type tlstap cannot read are left out, each said why in *skipped).
// Otherwise those, in order; an unknown name or a kind of link tlstap
// cannot read is an error (ExitCode::kInterface) naming it.
Result<std::vector<NetInterface>> choose_interfaces(const std::vector<std::string>& names,
                                                    std::vector<std::string>* skipped = nullptr);

}  // namespace tlstap::packets
