#include "tests/bpf/nginx_server.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/bpf/proc_inspect.h"
#include "tests/bpf/tlstap_session.h"  // HostPort

namespace tlstap::bpf_test {

pid_t ChildOf(pid_t parent) {
  DIR* proc = opendir("/proc");
  if (!proc) return 0;
  pid_t child = 0;
  while (dirent* d = readdir(proc)) {
    pid_t pid = atoi(d->d_name);
    if (pid <= 0) continue;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    // pid (comm) state ppid ...: comm may hold spaces, so start after ')'.
    size_t close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 1));
    std::string state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == parent) {
      child = pid;
      break;
    }
  }
  closedir(proc);
  return child;
}

void NginxServer::Start(const TempDir& dir) {
  ASSERT_EQ(access(kNginx, X_OK), 0)
      << kNginx << " is missing: run scripts/install-deps.sh (Debian's nginx)";
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, &cert_));
  ASSERT_EQ(mkdir((dir / "www").c_str(), 0755), 0);
  const char kHost[] = "127.0.0.1";
  port_ = FreeTcpPort(kHost);
  ASSERT_GT(port_, 0);
  addr_ = HostPort(kHost, port_);
  const std::string& d = dir.path();
  // HTTP/1.1 only (no http2 on the listen line). The worker runs as root:
  // the files are in the test's 0700 directory.
  std::string conf;
  conf += "worker_processes 1;\n";
  conf += "user root;\n";
  conf += "pid " + d + "/nginx.pid;\n";
  conf += "events { worker_connections 64; }\n";
  conf += "http {\n";
  conf += "  access_log off;\n";
  for (const char* temp : {"client_body", "proxy", "fastcgi", "uwsgi", "scgi"}) {
    conf += "  " + std::string(temp) + "_temp_path " + d + "/" + temp + ";\n";
  }
  conf += "  server {\n";
  conf += "    listen " + addr_ + " ssl;\n";
  conf += "    ssl_certificate " + cert_.cert + ";\n";
  conf += "    ssl_certificate_key " + cert_.key + ";\n";
  conf += "    root " + d + "/www;\n";
  conf += "    location = /upload { return 201 \"created\\n\"; }\n";
  conf += "    location / { }\n";
  conf += "  }\n";
  conf += "}\n";
  ASSERT_NO_FATAL_FAILURE(WriteFile(dir / "nginx.conf", conf));
  SpawnOptions options = Command(
      {kNginx, "-p", d, "-c", dir / "nginx.conf", "-e", dir / "error.log", "-g", "daemon off;"});
  options.stdin_pipe = false;
  nginx_ = std::make_unique<Subprocess>(options);
  ASSERT_TRUE(nginx_->ok()) << nginx_->error();
  ASSERT_TRUE(WaitForListen(port_, 10s)) << nginx_->Stderr() << ReadFile(dir / "error.log");
  for (auto deadline = std::chrono::steady_clock::now() + 10s;
       !worker_ && std::chrono::steady_clock::now() < deadline;) {
    worker_ = ChildOf(nginx_->pid());
    if (!worker_) std::this_thread::sleep_for(20ms);
  }
  ASSERT_GT(worker_, 0) << "nginx (pid " << nginx_->pid() << ") started no worker";
}

}  // namespace tlstap::bpf_test
