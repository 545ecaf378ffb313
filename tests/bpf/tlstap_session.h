// tlstap as the bpf tests see it: the real binary started as a child with
// --json -w FILE, waited for until its probes are attached, stopped with a
// signal, and its JSON lines parsed back into events.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "tests/bpf/subprocess.h"
#include "tests/bpf/test_env.h"

namespace tlstap::bpf_test {

// One {"type":"data"} line, with its data decoded.
struct DataEvent {
  uint64_t ts_ns = 0;
  pid_t pid = 0, tid = 0;
  std::string comm;    // the process's name
  std::string thread;  // "thread": the thread's own name, when it differs; else empty
  uint32_t uid = 0;
  std::string lib, dir, attribution;
  bool ktls = false;  // "ktls":true: a library call whose bytes kTLS carried too
  int fd = -1;
  std::optional<std::string> laddr, raddr;  // null in JSON: nullopt
  uint64_t conn_id = 0, stream_pos = 0, len = 0, captured = 0;
  nlohmann::json lost;  // absent: null
  std::string data;
};

// Everything one tlstap run wrote.
struct Capture {
  std::vector<DataEvent> events;
  std::vector<nlohmann::json> stats;    // every {"type":"stats"} line, in order
  std::vector<nlohmann::json> records;  // every {"type":"record"} line (--records), in order
  std::optional<int> exit_status;
  std::string stderr_text;

  const nlohmann::json* final_stats() const;
  // The events of one process in one direction ("tx"/"rx"), ordered by
  // connection (first seen first) and stream position.
  std::vector<const DataEvent*> Of(pid_t pid, const std::string& dir) const;
  std::vector<const DataEvent*> OfPid(pid_t pid) const;
  // Their data, concatenated.
  std::string Stream(pid_t pid, const std::string& dir) const;
  // Every record line, one per line, for a failure message (" none" if none).
  std::string DescribeRecords() const;
};

class TlstapSession {
 public:
  TlstapSession() = default;
  // A tlstap the test did not stop is SIGKILLed (by ~Subprocess).
  ~TlstapSession() = default;

  // Starts `tlstap --json -w <tmp>/events.jsonl args...` and waits for its
  // "capturing from" line. ASSERTs: wrap in ASSERT_NO_FATAL_FAILURE.
  void Start(const std::vector<std::string>& args = {},
             std::chrono::milliseconds ready_timeout = 120s);
  // Sends sig, waits for the exit, parses the output file. ASSERTs that
  // tlstap exited 0 and every line is JSON.
  void Stop(Capture* out, int sig = SIGINT, std::chrono::milliseconds timeout = 60s);

  pid_t pid() const { return process_ ? process_->pid() : -1; }
  const std::string& output_path() const { return output_; }
  std::string Stderr() const { return process_ ? process_->Stderr() : ""; }
  bool WaitForStderr(const std::function<bool(std::string_view)>& pred,
                     std::chrono::milliseconds timeout) {
    return process_ && process_->WaitForStderr(pred, timeout);
  }

 private:
  TempDir dir_;
  std::string output_;
  std::unique_ptr<Subprocess> process_;
};

// Parses tlstap's JSON lines. ASSERTs on lines that are not JSON objects.
void ParseJsonLines(const std::string& text, Capture* out);

// Every byte exactly once, in order: within each connection the events'
// stream_pos run from 0 without gap or overlap, each call's bytes were all
// captured (captured == len == data size, no "lost").
::testing::AssertionResult ExactlyOnce(const std::vector<const DataEvent*>& events);

// The final stats line is there and counts no loss of any kind.
void ExpectNoLoss(const Capture& capture);

// Where a process's TLS traffic should be reported.
struct Endpoint {
  pid_t pid = 0;
  std::string comm;
  int fd = -1;  // -1: not known to the test, any one fd (the same for all events)
  std::string laddr, raddr;
  std::string lib = "openssl";
};

// The events of e.pid in direction dir: non-empty, all from e's process,
// comm, fd and addresses, one TLS session, every byte once, and their data
// equal to expected.
void ExpectStream(const Capture& capture, const Endpoint& e, const std::string& dir,
                  std::string_view expected);

// Short descriptions of events (data cut short), for failure messages.
std::string Describe(const DataEvent& e);
std::string Describe(const std::vector<const DataEvent*>& events, size_t max = 12);

// "127.0.0.1:443" or "[::1]:443", as tlstap formats addresses.
std::string HostPort(const std::string& host, int port);

}  // namespace tlstap::bpf_test
