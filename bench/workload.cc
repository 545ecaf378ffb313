#include "bench/workload.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>

namespace tlstap::bench {
namespace {

[[noreturn]] void Usage(const char* name, bool has_ex_api, const std::string& why) {
  std::fprintf(stderr,
               "%s: %s\n"
               "usage: %s [--size BYTES] [--count N] [--api %s] [--tls 1.2|1.3] [--wait-stdin]\n"
               "       [--new-connections]\n",
               name, why.c_str(), name, has_ex_api ? "plain|ex" : "plain");
  std::exit(2);
}

}  // namespace

WorkloadOptions ParseWorkloadOptions(int argc, char** argv, const char* name, bool has_ex_api) {
  WorkloadOptions o;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) Usage(name, has_ex_api, std::string(arg) + " needs a value");
      return argv[++i];
    };
    auto number = [&]() -> uint64_t {
      std::string_view text = value();
      char* end = nullptr;
      errno = 0;
      unsigned long long v = std::strtoull(text.data(), &end, 10);
      if (errno != 0 || end == text.data() || *end != '\0' || v == 0) {
        Usage(name, has_ex_api, std::string(arg) + " wants a positive integer");
      }
      return v;
    };
    if (arg == "--size") {
      o.size = number();
    } else if (arg == "--count") {
      o.count = number();
    } else if (arg == "--api") {
      std::string_view v = value();
      if (v != "plain" && !(has_ex_api && v == "ex")) {
        Usage(name, has_ex_api,
              has_ex_api ? "--api is plain or ex" : "--api is plain (this stack has no _ex calls)");
      }
      o.ex_api = v == "ex";
    } else if (arg == "--tls") {
      std::string_view v = value();
      if (v != "1.2" && v != "1.3") Usage(name, has_ex_api, "--tls is 1.2 or 1.3");
      o.tls12 = v == "1.2";
    } else if (arg == "--wait-stdin") {
      o.wait_stdin = true;
    } else if (arg == "--new-connections") {
      o.new_connections = true;
    } else {
      Usage(name, has_ex_api, "unknown argument " + std::string(arg));
    }
  }
  return o;
}

Fd::~Fd() {
  if (fd_ >= 0) close(fd_);
}

std::pair<int, int> SocketPair() {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
    throw std::runtime_error(std::string("socketpair: ") + std::strerror(errno));
  }
  return {fds[0], fds[1]};
}

namespace {

[[noreturn]] void SocketFail(const char* what) {
  throw std::runtime_error(std::string(what) + ": " + std::strerror(errno));
}

}  // namespace

int LoopbackListener() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) SocketFail("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) SocketFail("bind");
  if (listen(fd, 16) != 0) SocketFail("listen");
  return fd;
}

std::pair<int, int> LoopbackPair(int listener) {
  sockaddr_in addr{};
  socklen_t len = sizeof(addr);
  if (getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    SocketFail("getsockname");
  }
  int client = socket(AF_INET, SOCK_STREAM, 0);
  if (client < 0) SocketFail("socket");
  if (connect(client, reinterpret_cast<sockaddr*>(&addr), len) != 0) SocketFail("connect");
  int server = accept(listener, nullptr, nullptr);
  if (server < 0) SocketFail("accept");
  // Small records each way: without this Nagle waits for delayed ACKs (40 ms).
  int one = 1;
  for (int fd : {client, server}) {
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) SocketFail("setsockopt");
  }
  return {client, server};
}

void SetNonBlocking(int fd, bool on) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK) < 0) {
    throw std::runtime_error(std::string("fcntl: ") + std::strerror(errno));
  }
}

void Handshake(const std::function<bool()>& client_step, const std::function<bool()>& server_step) {
  bool client_done = false;
  bool server_done = false;
  for (int round = 0; !(client_done && server_done); ++round) {
    if (round > 1000) throw std::runtime_error("handshake does not finish");
    if (!client_done) client_done = client_step();
    if (!server_done) server_done = server_step();
  }
}

std::vector<unsigned char> Message(size_t size) {
  std::vector<unsigned char> message(size);
  for (size_t i = 0; i < size; ++i) message[i] = static_cast<unsigned char>('a' + i % 26);
  return message;
}

// Blocks until the driver writes a newline (or closes stdin).
void AnnounceReadyAndWait() {
  std::printf("{\"ready\":%d}\n", getpid());
  std::fflush(stdout);
  for (;;) {
    char ch;
    ssize_t n = read(STDIN_FILENO, &ch, 1);
    if (n == 0 || (n == 1 && ch == '\n')) return;
    if (n < 0 && errno != EINTR) {
      throw std::runtime_error(std::string("read stdin: ") + std::strerror(errno));
    }
  }
}

void PrintResult(const WorkloadOptions& o, double seconds, const Counters& c) {
  std::printf(
      "{\"size\":%zu,\"count\":%llu,\"seconds\":%.6f,\"bytes_written\":%llu,\"bytes_read\":%llu,"
      "\"ssl_calls\":%llu,\"pid\":%d}\n",
      o.size, static_cast<unsigned long long>(o.count), seconds,
      static_cast<unsigned long long>(c.bytes_written),
      static_cast<unsigned long long>(c.bytes_read), static_cast<unsigned long long>(c.ssl_calls),
      getpid());
  std::fflush(stdout);
}

int WorkloadMain(const char* name, const std::function<void()>& run) {
  try {
    run();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", name, e.what());
    return 1;
  }
}

}  // namespace tlstap::bench
