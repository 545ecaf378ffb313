#include "tests/bpf/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

extern char** environ;

namespace tlstap::bpf_test {
namespace {

using Clock = std::chrono::steady_clock;

// Writing to a child that died must fail with EPIPE, not kill the test.
void IgnoreSigpipeOnce() {
  static const bool done = [] {
    signal(SIGPIPE, SIG_IGN);
    return true;
  }();
  (void)done;
}

std::string FindInPath(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t begin = 0;
  while (begin <= dirs.size()) {
    size_t end = dirs.find(':', begin);
    if (end == std::string::npos) end = dirs.size();
    std::string candidate = dirs.substr(begin, end - begin) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    begin = end + 1;
  }
  return name;
}

std::vector<std::string> MergeEnv(const std::vector<std::string>& extra) {
  std::map<std::string, std::string> vars;
  std::vector<std::string> order;
  auto put = [&](const std::string& entry) {
    std::string name = entry.substr(0, entry.find('='));
    if (!vars.contains(name)) order.push_back(name);
    vars[name] = entry;
  };
  for (char** e = environ; *e; ++e) put(*e);
  for (const std::string& e : extra) put(e);
  std::vector<std::string> out;
  for (const std::string& name : order) out.push_back(vars[name]);
  return out;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

std::string JoinArgv(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& a : argv) {
    if (!out.empty()) out += ' ';
    bool plain = !a.empty() && a.find_first_of(" \t\n'\"\\$*?;&|<>()") == std::string::npos;
    out += plain ? a : "'" + a + "'";
  }
  return out;
}

void Subprocess::Stream::Run(int fd) {
  char buf[1 << 16];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    std::lock_guard lock(mu_);
    if (n <= 0) {
      eof_ = true;
      cv_.notify_all();
      break;
    }
    data_.append(buf, n);
    cv_.notify_all();
  }
  close(fd);
}

std::string Subprocess::Stream::Get() const {
  std::lock_guard lock(mu_);
  return data_;
}

bool Subprocess::Stream::WaitFor(const std::function<bool(std::string_view)>& pred,
                                 milliseconds timeout) {
  std::unique_lock lock(mu_);
  auto deadline = Clock::now() + timeout;
  for (;;) {
    if (pred(data_)) return true;
    if (eof_) return false;
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) return pred(data_);
  }
}

Subprocess::Subprocess(SpawnOptions options) : options_(std::move(options)) {
  IgnoreSigpipeOnce();
  if (options_.argv.empty()) {
    error_ = "empty argv";
    return;
  }
  // Everything the child needs is built before fork(): between fork and exec
  // only async-signal-safe calls are allowed (the test has threads).
  std::vector<std::string> argv = options_.argv;
  argv[0] = FindInPath(argv[0]);
  std::vector<std::string> env = MergeEnv(options_.env);
  std::vector<char*> c_argv = CStrings(argv), c_env = CStrings(env);

  int in[2] = {-1, -1}, out[2], err[2], exec_err[2];
  if ((options_.stdin_pipe && pipe2(in, O_CLOEXEC) != 0) || pipe2(out, O_CLOEXEC) != 0 ||
      pipe2(err, O_CLOEXEC) != 0 || pipe2(exec_err, O_CLOEXEC) != 0) {
    error_ = std::string("pipe2: ") + strerror(errno);
    return;
  }
  pid_t pid = fork();
  if (pid < 0) {
    error_ = std::string("fork: ") + strerror(errno);
    return;
  }
  if (pid == 0) {
    setpgid(0, 0);  // its own group: the destructor kills helpers it forked too
    int devnull = options_.stdin_pipe ? -1 : open("/dev/null", O_RDONLY);
    dup2(options_.stdin_pipe ? in[0] : devnull, 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    if (options_.umask) umask(*options_.umask);
    signal(SIGPIPE, SIG_DFL);
    if (!options_.cwd.empty() && chdir(options_.cwd.c_str()) != 0) {
      int e = errno;
      (void)!write(exec_err[1], &e, sizeof(e));
      _exit(127);
    }
    execve(c_argv[0], c_argv.data(), c_env.data());
    int e = errno;
    (void)!write(exec_err[1], &e, sizeof(e));
    _exit(127);
  }
  pid_ = pid;
  if (options_.stdin_pipe) {
    close(in[0]);
    stdin_fd_ = in[1];
    fcntl(stdin_fd_, F_SETFL, fcntl(stdin_fd_, F_GETFL) | O_NONBLOCK);
  }
  close(out[1]);
  close(err[1]);
  close(exec_err[1]);
  int child_errno = 0;
  ssize_t n;
  do {
    n = read(exec_err[0], &child_errno, sizeof(child_errno));
  } while (n < 0 && errno == EINTR);
  close(exec_err[0]);
  out_thread_ = std::thread([s = out_, fd = out[0]] { s->Run(fd); });
  err_thread_ = std::thread([s = err_, fd = err[0]] { s->Run(fd); });
  if (n == sizeof(child_errno)) {
    error_ = "cannot run " + JoinArgv(options_.argv) + ": " + strerror(child_errno);
    Wait(milliseconds(5000));
    pid_ = -1;
  }
}

Subprocess::~Subprocess() {
  if (pid_ > 0 && !status_) {
    kill(-pid_, SIGKILL);
    kill(pid_, SIGKILL);
    Wait(milliseconds(10000));
  }
  CloseStdin();
  // Something that outlived the child (it forked and we could not kill it)
  // may still hold the pipes: detach rather than hang the test.
  for (std::thread* t : {&out_thread_, &err_thread_}) {
    if (t->joinable()) {
      if (!status_) {
        t->detach();
      } else {
        t->join();
      }
    }
  }
}

std::string Subprocess::command() const { return JoinArgv(options_.argv); }

bool Subprocess::Write(std::string_view data, milliseconds timeout) {
  if (stdin_fd_ < 0) return false;
  auto deadline = Clock::now() + timeout;
  while (!data.empty()) {
    ssize_t n = write(stdin_fd_, data.data(), data.size());
    if (n > 0) {
      data.remove_prefix(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) return false;
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{stdin_fd_, POLLOUT, 0};
    poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 100)));
  }
  return true;
}

void Subprocess::CloseStdin() {
  if (stdin_fd_ >= 0) close(stdin_fd_);
  stdin_fd_ = -1;
}

std::vector<std::string> Subprocess::StdoutLines() const {
  std::string all = Stdout();
  std::vector<std::string> lines;
  size_t begin = 0;
  for (size_t nl; (nl = all.find('\n', begin)) != std::string::npos; begin = nl + 1) {
    lines.push_back(all.substr(begin, nl - begin));
  }
  return lines;
}

void Subprocess::Signal(int sig) {
  if (pid_ > 0 && !status_) kill(pid_, sig);
}

std::optional<int> Subprocess::Wait(milliseconds timeout) {
  if (status_ || pid_ <= 0) return status_;
  auto deadline = Clock::now() + timeout;
  for (;;) {
    int raw = 0;
    pid_t r = waitpid(pid_, &raw, WNOHANG);
    if (r == pid_) {
      status_ = WIFEXITED(raw) ? WEXITSTATUS(raw) : -WTERMSIG(raw);
      // Its output ends with it (unless a grandchild holds the pipes).
      out_->WaitFor([](std::string_view) { return false; }, milliseconds(2000));
      err_->WaitFor([](std::string_view) { return false; }, milliseconds(2000));
      return status_;
    }
    if (r < 0 && errno != EINTR) return std::nullopt;
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(milliseconds(5));
  }
}

bool Subprocess::running() { return pid_ > 0 && !Wait(milliseconds(0)); }

RunResult RunToEnd(SpawnOptions options, milliseconds timeout) {
  options.stdin_pipe = false;
  Subprocess p(std::move(options));
  RunResult r;
  if (!p.ok()) {
    r.err = p.error();
    return r;
  }
  r.status = p.Wait(timeout);
  if (!r.status) p.Signal(SIGKILL);
  r.out = p.Stdout();
  r.err = p.Stderr();
  return r;
}

}  // namespace tlstap::bpf_test
