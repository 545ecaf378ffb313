// What every C++ bench workload (ssl_, boringssl_, gnutls_, nss_workload)
// shares: the command line, the message, the hand-shake with run.py
// (--wait-stdin), the timed round trips and the result line. Each workload
// brings its stack's set-up and its write/read calls.
//
// Output (stdout, one JSON object per line):
//   with --wait-stdin:  {"ready":<pid>}  after the handshake, then it waits
//                       for a newline (or EOF) on stdin before the timed loop;
//   always, at the end: {"size":..,"count":..,"seconds":..,"bytes_written":..,
//                        "bytes_read":..,"ssl_calls":..,"pid":..}
// "seconds" covers the loop only; "ssl_calls" counts every write and read
// call made in it, i.e. the probe hits a tracer sees per function.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <utility>
#include <vector>

namespace tlstap::bench {

struct WorkloadOptions {
  size_t size = 64;
  uint64_t count = 10000;
  bool ex_api = false;  // --api ex: OpenSSL's SSL_write_ex/SSL_read_ex
  bool tls12 = false;   // --tls 1.2 (default 1.3)
  bool wait_stdin = false;
  // --new-connections: every round trip on a new TCP connection over
  // loopback, with its own full handshake (the handshake benchmark).
  bool new_connections = false;
};

// `name` [--size BYTES] [--count N] [--api plain|ex] [--tls 1.2|1.3]
// [--wait-stdin] [--new-connections]; --api ex only where has_ex_api. A bad command line prints
// the usage and exits 2.
WorkloadOptions ParseWorkloadOptions(int argc, char** argv, const char* name, bool has_ex_api);

struct Counters {
  uint64_t bytes_written = 0;
  uint64_t bytes_read = 0;
  uint64_t ssl_calls = 0;
};

// An owned file descriptor.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd& operator=(Fd&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  ~Fd();
  int get() const { return fd_; }

 private:
  int fd_;
};

// Two connected AF_UNIX stream sockets (client's, server's), to be owned by
// an Fd each.
std::pair<int, int> SocketPair();
// A listening TCP socket on 127.0.0.1, an ephemeral port.
int LoopbackListener();
// A new TCP connection to listener (client's end, server's accepted end).
std::pair<int, int> LoopbackPair(int listener);
void SetNonBlocking(int fd, bool on);

// Drives both ends of a handshake from one thread: each side's step runs
// until it would block on the other (returns false) or is done (true); a
// fatal error throws from the step.
void Handshake(const std::function<bool()>& client_step, const std::function<bool()>& server_step);

enum class Side { kClient, kServer };

// After the handshake: with --wait-stdin says it is ready and waits for the
// go; then count round trips (the client writes the message, the server
// reads it and writes it back, the client reads it), the echo checked, and
// the result line. write_all(side, buf, len, &counters) sends len bytes,
// read_all(side, buf, len, &counters) receives exactly len, each counting
// its calls and bytes.
template <typename WriteAll, typename ReadAll>
void RunRoundTrips(const WorkloadOptions& o, WriteAll write_all, ReadAll read_all);

// main() of a workload: runs it, turns an exception into one line on stderr
// ("name: what") and exit status 1.
int WorkloadMain(const char* name, const std::function<void()>& run);

// --- details ---------------------------------------------------------------

std::vector<unsigned char> Message(size_t size);  // 'a' + i % 26
void AnnounceReadyAndWait();
void PrintResult(const WorkloadOptions& o, double seconds, const Counters& c);

template <typename WriteAll, typename ReadAll>
void RunRoundTrips(const WorkloadOptions& o, WriteAll write_all, ReadAll read_all) {
  const std::vector<unsigned char> message = Message(o.size);
  std::vector<unsigned char> server_buf(o.size), client_buf(o.size);
  if (o.wait_stdin) AnnounceReadyAndWait();

  Counters c;
  auto start = std::chrono::steady_clock::now();
  for (uint64_t i = 0; i < o.count; ++i) {
    write_all(Side::kClient, message.data(), message.size(), &c);
    read_all(Side::kServer, server_buf.data(), server_buf.size(), &c);
    write_all(Side::kServer, server_buf.data(), server_buf.size(), &c);
    read_all(Side::kClient, client_buf.data(), client_buf.size(), &c);
  }
  std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  if (client_buf != message) throw std::runtime_error("echoed message differs from the sent one");
  PrintResult(o, elapsed.count(), c);
}

}  // namespace tlstap::bench
