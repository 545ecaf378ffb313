#include "tests/bpf/tlstap_session.h"

#include <openssl/evp.h>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

namespace tlstap::bpf_test {
namespace {

constexpr std::string_view kReadyLine = "tlstap: capturing from ";

bool DecodeBase64(const std::string& in, std::string* out) {
  if (in.size() % 4 != 0) return false;
  out->assign(in.size() / 4 * 3, '\0');
  if (in.empty()) return true;
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out->data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0) return false;
  // EVP_DecodeBlock counts the bytes the '=' padding stands for.
  size_t pad = in.ends_with("==") ? 2 : in.ends_with("=") ? 1 : 0;
  out->resize(static_cast<size_t>(n) - pad);
  return true;
}

std::optional<std::string> OptionalString(const nlohmann::json& j) {
  if (j.is_null()) return std::nullopt;
  return j.get<std::string>();
}

std::string Printable(std::string_view s, size_t max) {
  std::string out;
  for (char c : s.substr(0, max)) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) {
      out += c;
    } else {
      char buf[8];
      snprintf(buf, sizeof(buf), "\\x%02x", u);
      out += buf;
    }
  }
  if (s.size() > max) out += "...";
  return out;
}

}  // namespace

const nlohmann::json* Capture::final_stats() const {
  for (const nlohmann::json& s : stats) {
    if (s.value("final", false)) return &s;
  }
  return nullptr;
}

std::vector<const DataEvent*> Capture::OfPid(pid_t pid) const {
  std::vector<const DataEvent*> out;
  for (const DataEvent& e : events) {
    if (e.pid == pid) out.push_back(&e);
  }
  return out;
}

std::vector<const DataEvent*> Capture::Of(pid_t pid, const std::string& dir) const {
  std::vector<const DataEvent*> out;
  std::map<uint64_t, uint64_t> first_seen;  // conn_id -> ts of its first event
  for (const DataEvent& e : events) {
    if (e.pid != pid || e.dir != dir) continue;
    out.push_back(&e);
    auto [it, fresh] = first_seen.emplace(e.conn_id, e.ts_ns);
    if (!fresh) it->second = std::min(it->second, e.ts_ns);
  }
  std::stable_sort(out.begin(), out.end(), [&](const DataEvent* a, const DataEvent* b) {
    uint64_t fa = first_seen[a->conn_id], fb = first_seen[b->conn_id];
    if (fa != fb) return fa < fb;
    if (a->conn_id != b->conn_id) return a->conn_id < b->conn_id;
    return a->stream_pos < b->stream_pos;
  });
  return out;
}

std::string Capture::Stream(pid_t pid, const std::string& dir) const {
  std::string out;
  for (const DataEvent* e : Of(pid, dir)) out += e->data;
  return out;
}

std::string Capture::DescribeRecords() const {
  std::string s;
  for (const nlohmann::json& r : records) s += "\n  " + r.dump();
  return s.empty() ? " none" : s;
}

void TlstapSession::Start(const std::vector<std::string>& args,
                          std::chrono::milliseconds ready_timeout) {
  ASSERT_FALSE(process_) << "tlstap already started";
  ASSERT_FALSE(dir_.path().empty()) << "mkdtemp failed";
  output_ = dir_ / "events.jsonl";
  SpawnOptions options = Command({kTlstap, "--json", "-w", output_});
  options.stdin_pipe = false;
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  process_ = std::make_unique<Subprocess>(options);
  ASSERT_TRUE(process_->ok()) << process_->error();
  bool ready = process_->WaitForStderr(
      [](std::string_view err) {
        size_t at = err.find(kReadyLine);
        return at != std::string_view::npos && err.find('\n', at) != std::string_view::npos;
      },
      ready_timeout);
  if (!ready) {
    std::optional<int> status = process_->Wait(0ms);
    FAIL() << process_->command() << " did not start capturing within " << ready_timeout.count()
           << " ms ("
           << (status ? "exit status " + std::to_string(*status) : std::string("still running"))
           << "); stderr:\n"
           << process_->Stderr();
  }
}

void TlstapSession::Stop(Capture* out, int sig, std::chrono::milliseconds timeout) {
  ASSERT_TRUE(process_) << "tlstap was not started";
  process_->Signal(sig);
  out->exit_status = process_->Wait(timeout);
  out->stderr_text = process_->Stderr();
  ASSERT_TRUE(out->exit_status.has_value()) << "tlstap did not exit within " << timeout.count()
                                            << " ms of signal " << sig << "; stderr:\n"
                                            << out->stderr_text;
  ASSERT_NO_FATAL_FAILURE(ParseJsonLines(ReadFile(output_), out));
  ASSERT_EQ(*out->exit_status, 0) << "tlstap failed; stderr:\n" << out->stderr_text;
}

void ParseJsonLines(const std::string& text, Capture* out) {
  size_t begin = 0, number = 0;
  while (begin < text.size()) {
    size_t end = text.find('\n', begin);
    ASSERT_NE(end, std::string::npos)
        << "the last line is not terminated: " << Printable(text.substr(begin), 200);
    std::string line = text.substr(begin, end - begin);
    begin = end + 1;
    ++number;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(j.is_object()) << "line " << number
                               << " is not a JSON object: " << Printable(line, 200);
    std::string type = j.value("type", "");
    if (type == "stats") {
      out->stats.push_back(std::move(j));
      continue;
    }
    if (type == "record") {
      out->records.push_back(std::move(j));
      continue;
    }
    ASSERT_EQ(type, "data") << "line " << number << ": " << Printable(line, 200);
    DataEvent e;
    try {
      e.ts_ns = j.at("ts_ns").get<uint64_t>();
      e.pid = j.at("pid").get<pid_t>();
      e.tid = j.at("tid").get<pid_t>();
      e.comm = j.at("comm").get<std::string>();
      if (j.contains("thread")) e.thread = j.at("thread").get<std::string>();
      e.uid = j.at("uid").get<uint32_t>();
      e.lib = j.at("lib").get<std::string>();
      e.dir = j.at("dir").get<std::string>();
      e.fd = j.at("fd").get<int>();
      e.laddr = OptionalString(j.at("laddr"));
      e.raddr = OptionalString(j.at("raddr"));
      e.attribution = j.at("attribution").get<std::string>();
      e.ktls = j.value("ktls", false);
      e.conn_id = j.at("conn_id").get<uint64_t>();
      e.stream_pos = j.at("stream_pos").get<uint64_t>();
      e.len = j.at("len").get<uint64_t>();
      e.captured = j.at("captured").get<uint64_t>();
      if (j.contains("lost")) e.lost = j.at("lost");
      ASSERT_TRUE(DecodeBase64(j.at("data").get<std::string>(), &e.data))
          << "line " << number << ": data is not base64";
    } catch (const nlohmann::json::exception& ex) {
      FAIL() << "line " << number << ": " << ex.what() << ": " << Printable(line, 300);
    }
    out->events.push_back(std::move(e));
  }
}

std::string Describe(const DataEvent& e) {
  std::ostringstream s;
  s << "pid=" << e.pid << " tid=" << e.tid << " comm=" << e.comm
    << (e.thread.empty() ? "" : " thread=" + e.thread) << " uid=" << e.uid << " dir=" << e.dir
    << " fd=" << e.fd << " laddr=" << e.laddr.value_or("null")
    << " raddr=" << e.raddr.value_or("null") << " attribution=" << e.attribution
    << " conn_id=" << e.conn_id << " stream_pos=" << e.stream_pos << " len=" << e.len
    << " captured=" << e.captured << (e.lost.is_null() ? "" : " lost=" + e.lost.dump())
    << " data=\"" << Printable(e.data, 24) << "\"";
  return s.str();
}

std::string Describe(const std::vector<const DataEvent*>& events, size_t max) {
  std::string s = std::to_string(events.size()) + " events";
  for (size_t i = 0; i < events.size() && i < max; ++i) s += "\n  " + Describe(*events[i]);
  if (events.size() > max) s += "\n  ...";
  return s;
}

::testing::AssertionResult ExactlyOnce(const std::vector<const DataEvent*>& events) {
  std::map<std::pair<uint64_t, std::string>, std::vector<const DataEvent*>> by_stream;
  for (const DataEvent* e : events) by_stream[{e->conn_id, e->dir}].push_back(e);
  for (auto& [key, stream] : by_stream) {
    std::stable_sort(stream.begin(), stream.end(), [](const DataEvent* a, const DataEvent* b) {
      return a->stream_pos < b->stream_pos;
    });
    uint64_t expected_pos = 0;
    for (const DataEvent* e : stream) {
      if (e->stream_pos != expected_pos || e->captured != e->len || e->data.size() != e->len ||
          !e->lost.is_null()) {
        return ::testing::AssertionFailure()
               << "conn_id " << key.first << " " << key.second << ": expected a call at stream_pos "
               << expected_pos << " with every byte captured, got " << Describe(*e)
               << "\nall events of that stream: " << Describe(stream, 40);
      }
      expected_pos += e->len;
    }
  }
  return ::testing::AssertionSuccess();
}

void ExpectStream(const Capture& capture, const Endpoint& want, const std::string& dir,
                  std::string_view expected) {
  SCOPED_TRACE("events of pid " + std::to_string(want.pid) + " (" + want.comm + "), " + dir);
  std::vector<const DataEvent*> events = capture.Of(want.pid, dir);
  ASSERT_FALSE(events.empty()) << "no " << dir << " event of pid " << want.pid << " among "
                               << capture.events.size() << " events";
  std::set<uint64_t> conns;
  std::set<int> fds;
  for (const DataEvent* e : events) {
    conns.insert(e->conn_id);
    fds.insert(e->fd);
    // One failure per event at most: the description says what differs.
    bool as_expected = e->comm == want.comm && e->lib == want.lib &&
                       (want.fd < 0 || e->fd == want.fd) && e->fd >= 0 && e->laddr == want.laddr &&
                       e->raddr == want.raddr && e->attribution != "none" && e->conn_id != 0;
    EXPECT_TRUE(as_expected) << "expected comm=" << want.comm << " lib=" << want.lib << " fd="
                             << (want.fd < 0 ? std::string("any") : std::to_string(want.fd))
                             << " laddr=" << want.laddr << " raddr=" << want.raddr
                             << " and an attribution, got " << Describe(*e);
    if (!as_expected) break;
  }
  EXPECT_EQ(conns.size(), 1u) << "one TLS session, one conn_id: " << Describe(events);
  EXPECT_EQ(fds.size(), 1u) << "one socket: " << Describe(events);
  // tlstap's own account of what it saw and lost, for the messages.
  const nlohmann::json* stats = capture.final_stats();
  const std::string stats_text = "\ntlstap's final stats: " + (stats ? stats->dump() : "none");
  EXPECT_TRUE(ExactlyOnce(events)) << stats_text;
  std::string stream;
  for (const DataEvent* e : events) stream += e->data;
  EXPECT_TRUE(SameBytes(stream, expected)) << Describe(events) << stats_text;
}

void ExpectNoLoss(const Capture& capture) {
  const nlohmann::json* stats = capture.final_stats();
  ASSERT_TRUE(stats) << "no final stats line";
  ASSERT_TRUE(stats->contains("lost")) << stats->dump();
  for (const auto& [cause, lost] : stats->at("lost").items()) {
    EXPECT_EQ(lost, 0) << "lost." << cause << " in " << stats->dump();
  }
}

std::string HostPort(const std::string& host, int port) {
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

}  // namespace tlstap::bpf_test
