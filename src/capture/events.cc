#include "capture/events.h"

#include <arpa/inet.h>
#include <sys/socket.h>

namespace tlstap::capture {

std::string_view lib_name(Lib lib) {
  switch (lib) {
    case Lib::kOpenSsl:
      return "openssl";
    case Lib::kBoringSsl:
      return "boringssl";
    case Lib::kGnuTls:
      return "gnutls";
    case Lib::kNss:
      return "nss";
    case Lib::kGo:
      return "go";
    case Lib::kKtls:
      return "ktls";
    case Lib::kUnknown:
      break;
  }
  return "unknown";
}

std::string_view dir_name(Dir dir) { return dir == Dir::kRx ? "rx" : "tx"; }

std::string_view attribution_name(Attribution a) {
  switch (a) {
    case Attribution::kSyscall:
      return "syscall";
    case Attribution::kThread:
      return "thread";
    case Attribution::kCached:
      return "cached";
    case Attribution::kConn:
      return "conn";
    case Attribution::kSocket:
      return "socket";
    case Attribution::kNone:
      break;
  }
  return "none";
}

std::string format_endpoint(const Endpoint& e) {
  char buf[INET6_ADDRSTRLEN] = {};
  switch (e.family) {
    case AF_INET:
      inet_ntop(AF_INET, e.addr.data(), buf, sizeof(buf));
      return std::string(buf) + ":" + std::to_string(e.port);
    case AF_INET6:
      inet_ntop(AF_INET6, e.addr.data(), buf, sizeof(buf));
      return "[" + std::string(buf) + "]:" + std::to_string(e.port);
    case AF_UNIX:
      return "unix";
    default:
      return "";
  }
}

}  // namespace tlstap::capture
