#include "tests/bpf/proc_inspect.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

namespace tlstap::bpf_test {
namespace {

namespace fs = std::filesystem;

// "0100007F:1F90" (IPv4) or 32 hex digits (IPv6), each 32-bit word printed in
// host byte order, then the port in hex.
bool ParseProcAddr(const std::string& text, bool v6, std::string* formatted, int* port) {
  size_t colon = text.find(':');
  if (colon == std::string::npos) return false;
  std::string hex = text.substr(0, colon);
  size_t words = v6 ? 4 : 1;
  if (hex.size() != words * 8) return false;
  uint8_t bytes[16] = {};
  for (size_t i = 0; i < words; ++i) {
    uint32_t word = static_cast<uint32_t>(std::stoul(hex.substr(i * 8, 8), nullptr, 16));
    std::memcpy(bytes + i * 4, &word, 4);
  }
  *port = std::stoi(text.substr(colon + 1), nullptr, 16);
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(v6 ? AF_INET6 : AF_INET, bytes, buf, sizeof(buf));
  *formatted = v6 ? "[" + std::string(buf) + "]:" + std::to_string(*port)
                  : std::string(buf) + ":" + std::to_string(*port);
  return true;
}

// inode -> socket, for every TCP socket of the network namespace.
std::map<uint64_t, TcpSocket> ReadProcNetTcp() {
  std::map<uint64_t, TcpSocket> by_inode;
  for (bool v6 : {false, true}) {
    std::ifstream in(v6 ? "/proc/net/tcp6" : "/proc/net/tcp");
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string sl, local, remote, state, queues, timer, retr, uid, timeout, inode;
      if (!(fields >> sl >> local >> remote >> state >> queues >> timer >> retr >> uid >> timeout >>
            inode)) {
        continue;
      }
      TcpSocket s;
      if (!ParseProcAddr(local, v6, &s.laddr, &s.lport) ||
          !ParseProcAddr(remote, v6, &s.raddr, &s.rport)) {
        continue;
      }
      s.state = std::stoi(state, nullptr, 16);
      s.inode = std::stoull(inode);
      if (s.inode != 0) by_inode[s.inode] = s;
    }
  }
  return by_inode;
}

}  // namespace

std::vector<TcpSocket> TcpSocketsOf(pid_t pid) {
  std::map<uint64_t, TcpSocket> by_inode = ReadProcNetTcp();
  std::vector<TcpSocket> out;
  std::error_code ec;
  for (fs::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", ec), end; !ec && it != end;
       it.increment(ec)) {
    std::string target = fs::read_symlink(it->path(), ec).string();
    if (ec) {
      ec.clear();
      continue;
    }
    // "socket:[12345]"
    if (!target.starts_with("socket:[")) continue;
    uint64_t inode = std::stoull(target.substr(8));
    auto found = by_inode.find(inode);
    if (found == by_inode.end()) continue;
    TcpSocket s = found->second;
    s.fd = std::stoi(it->path().filename().string());
    out.push_back(s);
  }
  return out;
}

std::optional<TcpSocket> WaitForSocket(pid_t pid, const std::function<bool(const TcpSocket&)>& pred,
                                       std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    for (const TcpSocket& s : TcpSocketsOf(pid)) {
      if (pred(s)) return s;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

bool WaitForListen(int port, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    for (const auto& [inode, s] : ReadProcNetTcp()) {
      if (s.state == kTcpListen && s.lport == port) return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

int FreeTcpPort(const std::string& host) {
  bool v6 = host.find(':') != std::string::npos;
  int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_storage ss{};
  socklen_t len;
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    inet_pton(AF_INET6, host.c_str(), &a->sin6_addr);
    len = sizeof(*a);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    inet_pton(AF_INET, host.c_str(), &a->sin_addr);
    len = sizeof(*a);
  }
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    port = ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                    : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  }
  close(fd);
  return port;
}

BpfObjects BpfObjectsOf(pid_t pid) {
  BpfObjects objects;
  std::error_code ec;
  for (fs::directory_iterator it("/proc/" + std::to_string(pid) + "/fdinfo", ec), end;
       !ec && it != end; it.increment(ec)) {
    std::ifstream in(it->path());
    std::string line;
    while (std::getline(in, line)) {
      auto take = [&](std::string_view key, std::set<uint32_t>* into) {
        if (line.starts_with(key)) into->insert(std::stoul(line.substr(key.size())));
      };
      take("prog_id:", &objects.progs);
      take("map_id:", &objects.maps);
      take("link_id:", &objects.links);
    }
  }
  return objects;
}

}  // namespace tlstap::bpf_test
