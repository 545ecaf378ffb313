// Drives tests/progs/tls_peer.py (Python ssl on the system libssl.so.3): its
// command line, and the JSON lines it reports on stdout.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "tests/bpf/subprocess.h"
#include "tests/bpf/test_env.h"

namespace tlstap::bpf_test {

struct PeerOptions {
  // The peer to run; empty: tls_peer.py on Debian's python3. Another peer
  // (tests/progs/tls_go) takes the same arguments and reports the same lines.
  std::vector<std::string> program;
  std::string role;  // "server" or "client"
  std::string mode;  // see tls_peer.py: exchange, sink, silent, nonblock, hang
  std::string host = "127.0.0.1";
  int port = 0;  // server: 0 picks one, reported in its "listening" line
  std::string tls = "1.3";
  std::vector<size_t> sizes = {100};
  std::string tag = "peer";  // payload seeds are "<tag>/c2s/<size>", "<tag>/s2c/<size>"
  std::string comm;          // command name to take before loading libssl
  std::string thread;        // tls_peer.py: the TLS session runs in a thread of this OS name
  bool wait_go = false;      // client: wait for a line on stdin after the handshake
  int sndbuf = 0, rcvbuf = 0;
  const Certificate* cert = nullptr;  // server
  std::vector<std::string> prefix;    // e.g. setpriv ... to run it as another user
  std::vector<std::string> extra;     // more arguments, after all the above
  std::vector<std::string> env;
};

// What the peer reported once its TLS session was up ("connected").
struct PeerInfo {
  pid_t pid = 0;
  int fd = -1;
  std::string laddr, raddr;  // formatted like tlstap's
  std::string version;
  std::vector<std::string> libssl;  // mapped paths containing "libssl"
  // ktls_peer only: whether the kernel's TLS layer took over each direction.
  bool ktls_tx = false, ktls_rx = false;
  std::string cipher;
};

std::unique_ptr<Subprocess> StartPeer(const PeerOptions& options);

// Waits for the {"event": name} line; ASSERTs it arrives within timeout.
void WaitForPeerEvent(Subprocess& peer, const std::string& name, nlohmann::json* out,
                      std::chrono::milliseconds timeout = 30s);
// The server's port from its "listening" line. ASSERTs.
void WaitForListening(Subprocess& server, int* port);
// The "connected" line. ASSERTs.
void WaitForConnected(Subprocess& peer, PeerInfo* info);

// A server and its client.
struct PeerPair {
  PeerOptions server_options, client_options;
  std::unique_ptr<Subprocess> server, client;
  PeerInfo server_info, client_info;
};
// Starts the server, then the client on the server's port, and waits until
// both report their TLS session. ASSERTs.
void StartPair(const PeerOptions& server, const PeerOptions& client, PeerPair* out);
// Options for a server in mode, and its client in client_mode.
PeerOptions ServerOptions(const std::string& mode, const Certificate& cert);
PeerOptions ClientOptions(const std::string& mode, const PeerOptions& server);

// The bytes a peer sends in one direction ("c2s" / "s2c") over all sizes.
std::string PeerStream(const PeerOptions& options, const std::string& direction);

// "1,100,16384".
std::string JoinSizes(const std::vector<size_t>& sizes);

}  // namespace tlstap::bpf_test
