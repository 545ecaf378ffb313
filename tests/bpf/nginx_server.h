// Debian's nginx as a TLS (HTTP/1.1) server for bpf tests: one worker,
// listening on 127.0.0.1 at a free port, serving a directory, with
// `location = /upload { return 201 "created\n"; }`. Shared by
// nginx_records_bpf_test and metrics_bpf_test.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "tests/bpf/subprocess.h"
#include "tests/bpf/test_env.h"

namespace tlstap::bpf_test {

inline constexpr char kNginx[] = "/usr/sbin/nginx";
inline constexpr char kNginxCreated[] = "created\n";  // what `return 201` sends

// The process whose parent is parent (nginx's one worker), or 0.
pid_t ChildOf(pid_t parent);

class NginxServer {
 public:
  // Makes a certificate in dir, writes dir/nginx.conf serving dir/www (made
  // here; put files in it before or after), starts nginx and waits for its
  // port and its worker. ASSERTs: wrap in ASSERT_NO_FATAL_FAILURE.
  void Start(const TempDir& dir);

  int port() const { return port_; }
  // "127.0.0.1:PORT", as tlstap prints addresses and as curl sends Host.
  const std::string& addr() const { return addr_; }
  pid_t worker() const { return worker_; }
  std::string Url(const std::string& path) const { return "https://" + addr_ + path; }

 private:
  Certificate cert_;
  int port_ = 0;
  std::string addr_;
  std::unique_ptr<Subprocess> nginx_;
  pid_t worker_ = 0;
};

}  // namespace tlstap::bpf_test
