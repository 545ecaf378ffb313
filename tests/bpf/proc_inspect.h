// What /proc says about a live process: its TCP sockets (fd and addresses,
// from /proc/net/tcp{,6} inodes matched against /proc/PID/fd links), and the
// BPF programs, maps and links it holds (from /proc/PID/fdinfo).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace tlstap::bpf_test {

struct TcpSocket {
  int fd = -1;
  std::string laddr, raddr;  // as tlstap prints them: "127.0.0.1:443", "[::1]:443"
  int lport = 0, rport = 0;
  int state = 0;  // kernel TCP state: 1 established, 10 listen
  uint64_t inode = 0;
};

constexpr int kTcpEstablished = 1;
constexpr int kTcpListen = 10;

// The TCP sockets the process holds now; empty if it is gone.
std::vector<TcpSocket> TcpSocketsOf(pid_t pid);

// Polls until the process holds a socket satisfying pred.
std::optional<TcpSocket> WaitForSocket(pid_t pid, const std::function<bool(const TcpSocket&)>& pred,
                                       std::chrono::milliseconds timeout);

// Polls until someone listens on the TCP port (IPv4 or IPv6).
bool WaitForListen(int port, std::chrono::milliseconds timeout);

// A TCP port nothing listens on now (bound to port 0, then released).
int FreeTcpPort(const std::string& host = "127.0.0.1");

// BPF objects whose fds the process holds.
struct BpfObjects {
  std::set<uint32_t> progs, maps, links;
};
BpfObjects BpfObjectsOf(pid_t pid);

}  // namespace tlstap::bpf_test
