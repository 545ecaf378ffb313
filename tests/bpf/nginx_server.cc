#include "tests/bpf/nginx_server.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/bpf/proc_inspect.h"
#include "tests/bpf/tlstap_session.h"

namespace tlstap::bpf_test {

uint64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

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

void NginxServer::Start(const TempDir& dir, const Certificate& cert, const NginxConfig& config) {
  ASSERT_EQ(access(kNginx, X_OK), 0)
      << kNginx << " is missing: run scripts/install-deps.sh (Debian's nginx)";
  port_ = FreeTcpPort("127.0.0.1");
  ASSERT_GT(port_, 0);
  addr_ = HostPort("127.0.0.1", port_);
  const std::string& d = dir.path();
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
  for (const std::string& line : config.http_lines) conf += "  " + line + "\n";
  conf += "  server {\n";
  // nginx 1.22 (Debian 12) takes http2 on the listen line.
  conf += "    listen " + addr_ + (config.http2 ? " ssl http2;\n" : " ssl;\n");
  conf += "    ssl_certificate " + cert.cert + ";\n";
  conf += "    ssl_certificate_key " + cert.key + ";\n";
  conf += "    root " + config.root + ";\n";
  for (const std::string& line : config.lines) conf += "    " + line + "\n";
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
