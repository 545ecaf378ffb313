// A child process for bpf tests: argv, extra environment, working directory,
// umask; stdin is a pipe the test writes to (or /dev/null), stdout and stderr
// are pipes drained by background threads, so a child writing megabytes never
// blocks on a test that is busy elsewhere.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace tlstap::bpf_test {

using std::chrono::milliseconds;

struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH unless it has a '/'
  std::vector<std::string> env;   // "NAME=value", added to (or replacing in) ours
  std::string cwd;                // empty: ours
  bool stdin_pipe = true;         // false: /dev/null
  std::optional<mode_t> umask;
};

// Options for argv, with a stdin pipe (designated initializers would leave
// members out, which -Wextra reports).
inline SpawnOptions Command(std::vector<std::string> argv) {
  SpawnOptions o;
  o.argv = std::move(argv);
  return o;
}

// argv behind a shell that execs it once a line arrives on stdin: the pid is
// known before the program runs (exec keeps it), so tlstap can be started
// with --pid for a program that then starts after tlstap.
inline SpawnOptions HeldCommand(const std::vector<std::string>& argv) {
  SpawnOptions o = Command({"/bin/sh", "-c", "read -r line && exec \"$@\"", "sh"});
  o.argv.insert(o.argv.end(), argv.begin(), argv.end());
  return o;
}

class Subprocess {
 public:
  // Starts the child; ok() tells whether exec succeeded, error() why not.
  explicit Subprocess(SpawnOptions options);
  // Kills the child's process group if it still runs, and reaps it.
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  bool ok() const { return pid_ > 0; }
  const std::string& error() const { return error_; }
  pid_t pid() const { return pid_; }
  std::string command() const;  // argv joined, for messages

  // Writes all of data to the child's stdin, or fails after timeout.
  bool Write(std::string_view data, milliseconds timeout);
  void CloseStdin();

  std::string Stdout() const { return out_->Get(); }
  std::string Stderr() const { return err_->Get(); }
  // Waits until pred(everything the child wrote so far) holds; false on
  // timeout or when the stream ends without it holding.
  bool WaitForStdout(const std::function<bool(std::string_view)>& pred, milliseconds timeout) {
    return out_->WaitFor(pred, timeout);
  }
  bool WaitForStderr(const std::function<bool(std::string_view)>& pred, milliseconds timeout) {
    return err_->WaitFor(pred, timeout);
  }
  // The complete lines of stdout, in order.
  std::vector<std::string> StdoutLines() const;

  void Signal(int sig);
  // The exit status: the exit code, or -N if signal N ended it; nullopt if it
  // still runs after timeout.
  std::optional<int> Wait(milliseconds timeout);
  bool running();

 private:
  class Stream {
   public:
    void Run(int fd);  // reads fd to its end, then closes it
    std::string Get() const;
    bool WaitFor(const std::function<bool(std::string_view)>& pred, milliseconds timeout);

   private:
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::string data_;
    bool eof_ = false;
  };

  SpawnOptions options_;
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string error_;
  int stdin_fd_ = -1;
  // Shared with the reader threads, which may outlive this object (see ~Subprocess).
  std::shared_ptr<Stream> out_ = std::make_shared<Stream>(), err_ = std::make_shared<Stream>();
  std::thread out_thread_, err_thread_;
};

// "sh -c"-free shell quoting of argv for messages.
std::string JoinArgv(const std::vector<std::string>& argv);

// Runs a command to its end (at most timeout) and returns exit status and
// output; the status is nullopt if it had to be killed.
struct RunResult {
  std::optional<int> status;
  std::string out, err;
};
RunResult RunToEnd(SpawnOptions options, milliseconds timeout);

}  // namespace tlstap::bpf_test
