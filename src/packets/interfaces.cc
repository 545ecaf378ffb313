#include "packets/interfaces.h"

#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

#include "pcapng/blocks.h"

namespace tlstap::packets {
namespace {

constexpr int kArpEther = 1, kArpLoopback = 772, kArpNone = 65534;

int arp_type_of(const std::string& name) {
  int type = -1;
  std::ifstream("/sys/class/net/" + name + "/type") >> type;
  return type;
}

bool is_up(const std::string& name) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  ifreq req{};
  std::strncpy(req.ifr_name, name.c_str(), IFNAMSIZ - 1);
  bool up = ioctl(fd, SIOCGIFFLAGS, &req) == 0 && (req.ifr_flags & IFF_UP);
  close(fd);
  return up;
}

// How frames of this interface start, or an error naming it.
Result<NetInterface> describe(const std::string& name) {
  NetInterface i;
  i.name = name;
  i.ifindex = static_cast<int>(if_nametoindex(name.c_str()));
  if (i.ifindex == 0) {
    return fail(ExitCode::kInterface,
                "-i " + name + ": no such network interface (ip link lists them)");
  }
  i.arp_type = arp_type_of(name);
  switch (i.arp_type) {
    case kArpLoopback:
      i.loopback = true;
      [[fallthrough]];
    case kArpEther:
      i.link_type = pcapng::kLinkTypeEthernet;
      i.l3_offset = 14;
      return i;
    case kArpNone:
      i.link_type = pcapng::kLinkTypeRaw;
      i.l3_offset = 0;
      return i;
    default:
      return fail(ExitCode::kInterface, "-i " + name + ": link type " + std::to_string(i.arp_type) +
                                            " is not one tlstap reads (Ethernet, loopback, "
                                            "or IP without a link header)");
  }
}

}  // namespace

Result<std::vector<NetInterface>> choose_interfaces(const std::vector<std::string>& names,
                                                    std::vector<std::string>* skipped) {
  std::vector<NetInterface> chosen;
  if (!names.empty()) {
    for (const std::string& name : names) {
      auto i = describe(name);
      if (!i) return std::unexpected(i.error());
      chosen.push_back(std::move(*i));
    }
    return chosen;
  }
  struct if_nameindex* all = if_nameindex();
  if (!all)
    return fail(ExitCode::kInterface,
                "cannot list network interfaces: " + std::string(strerror(errno)));
  for (struct if_nameindex* i = all; i->if_index != 0; ++i) {
    std::string name = i->if_name;
    if (!is_up(name)) continue;
    auto described = describe(name);
    if (described) {
      chosen.push_back(std::move(*described));
    } else if (skipped) {
      skipped->push_back(described.error().message);
    }
  }
  if_freenameindex(all);
  if (chosen.empty()) return fail(ExitCode::kInterface, "no network interface is up");
  return chosen;
}

}  // namespace tlstap::packets
