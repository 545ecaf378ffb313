// Debian's nginx for the bpf tier: one worker (running as root, so it can
// read the test's 0700 directory) serving a document root over TLS on
// 127.0.0.1, HTTP/1.1 or HTTP/2, its pid file, temp paths, config and
// error log in the test's directory.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/bpf/subprocess.h"
#include "tests/bpf/test_env.h"

namespace tlstap::bpf_test {

inline constexpr char kNginx[] = "/usr/sbin/nginx";

struct NginxConfig {
  std::string root;                     // the document root
  bool http2 = false;                   // "listen ... ssl http2" (ALPN h2); HTTP/1.1 only otherwise
  std::vector<std::string> lines;       // more lines inside server { }, e.g. locations
  std::vector<std::string> http_lines;  // more lines inside http { }, e.g. another server
};

class NginxServer {
 public:
  // Starts nginx in dir with cert and waits for its listening socket and
  // its worker. ASSERTs: wrap in ASSERT_NO_FATAL_FAILURE.
  void Start(const TempDir& dir, const Certificate& cert, const NginxConfig& config);

  pid_t pid() const { return nginx_ ? nginx_->pid() : -1; }
  pid_t worker() const { return worker_; }
  // "127.0.0.1:PORT"
  const std::string& addr() const { return addr_; }
  int port() const { return port_; }
  std::string Url(const std::string& path) const { return "https://" + addr_ + path; }

 private:
  std::unique_ptr<Subprocess> nginx_;
  pid_t worker_ = 0;
  std::string addr_;
  int port_ = 0;
};

// The process whose parent is parent (nginx's one worker), or 0.
pid_t ChildOf(pid_t parent);
// CLOCK_REALTIME in nanoseconds, as tlstap's ts_ns.
uint64_t NowNs();

}  // namespace tlstap::bpf_test
