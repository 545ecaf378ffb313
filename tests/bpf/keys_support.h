// What keys_bpf_test's files share (tlstap keys and --keylog against each
// stack's own key log): key logs read back, tlstap run beside the traffic a
// test drives and held to the traced program's own key log, openssl
// s_client and s_server, a loopback recording that tshark decrypts with
// nothing but tlstap's key log, and the fixture that holds them.
#pragma once

#include <netinet/in.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "tests/bpf/python_peer.h"
#include "tests/bpf/subprocess.h"
#include "tests/bpf/test_env.h"
#include "tests/bpf/tlstap_session.h"

namespace tlstap::bpf_test {

// The bytes most exchanges send each way.
inline constexpr size_t kSize = 100;

// The key log lines of a file: comments (OpenSSL's header) and blanks left out.
std::multiset<std::string> KeyLines(const std::string& path);

// tlstap's own lines of its stderr.
std::string TlstapLines(const std::string& err);

// Key log lines for a failure message, one per line.
std::string Show(const std::multiset<std::string>& lines);

// The labels (first words) of key log lines.
std::set<std::string> Labels(const std::multiset<std::string>& lines);

// The labels GnuTLS and BoringSSL log: CLIENT_RANDOM for TLS 1.2;
// CLIENT_HANDSHAKE_TRAFFIC_SECRET, SERVER_HANDSHAKE_TRAFFIC_SECRET,
// CLIENT_TRAFFIC_SECRET_0, SERVER_TRAFFIC_SECRET_0 and EXPORTER_SECRET for TLS 1.3.
std::set<std::string> LoggedLabels(bool tls13);

// path exists (ASSERTs) and is 0600.
void ExpectPrivate(const std::string& path);

// tlstap's lines equal the oracle's, which are the session's whole key log.
void ExpectSameKeys(const std::string& tap_path, const std::multiset<std::string>& oracle,
                    size_t lines_per_session, const std::string& tap_stderr);

// "-tls1_2" or "-tls1_3" for tls "1.2" or "1.3".
std::string TlsFlag(std::string_view tls);

// `openssl s_server` on 127.0.0.1:port for one connection (-quiet), then args.
SpawnOptions OpensslServer(int port, const Certificate& cert, const std::vector<std::string>& args);

// `openssl s_client` to 127.0.0.1:port (-quiet -no_ign_eof), then args.
SpawnOptions OpensslClient(int port, const std::vector<std::string>& args);

// Starts a server and waits until port listens. ASSERTs.
void StartListening(const SpawnOptions& server, int port, std::unique_ptr<Subprocess>* out);

// Ends a server that runs until told: SIGTERM, and up to 10 s for it to exit.
void Terminate(Subprocess& server);

// Parameter names: a case's name, or "tls1_2" / "tls1_3" for a version.
template <typename Case>
std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  return std::string(info.param.name);
}
std::string VersionName(const ::testing::TestParamInfo<const char*>& info);

// How tlstap writes the key log.
enum class KeysMode {
  kKeysOnly,       // `tlstap keys -w FILE args...`
  kBesideCapture,  // `tlstap --json -w EVENTS --keylog FILE args...` (a TlstapSession)
};

// tlstap writing a key log, started and stopped like TlstapSession.
class KeysTap {
 public:
  // Starts tlstap writing path and waits until it is ready. ASSERTs.
  void Start(const std::string& path, const std::vector<std::string>& args,
             KeysMode mode = KeysMode::kKeysOnly);
  // SIGINT; ASSERTs that tlstap exits 0 (beside a capture: its events into capture()).
  void Stop();
  std::string Stderr() const;
  bool WaitForStderr(const std::function<bool(std::string_view)>& pred,
                     std::chrono::milliseconds timeout);
  const Capture& capture() const { return capture_; }

 private:
  std::unique_ptr<Subprocess> process_;     // kKeysOnly
  std::unique_ptr<TlstapSession> session_;  // kBesideCapture
  Capture capture_;
};

// dumpcap on lo, limited to one TCP port and a UDP port of its own, whose
// datagrams mark how far the file has got: dumpcap writes packets in order,
// and the kernel hands them over in blocks, so "capturing" on stderr does
// not mean live, and a stop right after the traffic would miss its end.
class LoopbackCapture {
 public:
  void Start(const std::string& pcap, int tcp_port);
  // Returns once everything sent before it is in the file: sends a datagram
  // naming this mark until its bytes appear there.
  void Mark(const std::string& name);
  void Stop();
  ~LoopbackCapture();

 private:
  std::string pcap_;
  int marker_ = -1;
  sockaddr_in marker_addr_{};
  std::unique_ptr<Subprocess> process_;
};

// One run of tlstap beside an exchange, and the key log it is held to. Every
// member has an initializer: designated initializers may leave any out.
struct KeysRun {
  KeysMode mode = KeysMode::kKeysOnly;
  std::vector<std::string> args = {};  // tlstap's, after what mode puts first
  std::string oracle = {};             // the traced program's own key log
  std::string other_end = {};  // if set: the other end's own key log, which must be the same
  size_t lines_per_session = 1;
  bool verbose = false;  // -v: failure messages show tlstap's lines only, without libbpf's log
};

// The keys tests' fixture: a directory with a certificate, and tlstap
// writing the key log tap_log_.
class KeysBpfTest : public BpfTest {
 protected:
  void SetUp() override;

  // Starts tap_ (run.mode, run.args), runs exchange (the traffic, which may
  // wait on tap_'s stderr) and stops tap_, ASSERTing all through; then
  // expects tap_log_ to hold exactly run.oracle's lines (and run.other_end's
  // to be the same). Returns whether the run got as far as that comparison.
  bool KeysBeside(const KeysRun& run, const std::function<void()>& exchange);

  // With tap_ started: records lo (TCP port) while exchange runs, stops
  // tap_, and puts in *follow what tshark decrypts of the recording with
  // nothing but tap_log_ (`-q -z follow,tls,ascii,0`). ASSERTs.
  void DecryptWithKeyLog(int port, const std::function<void()>& exchange, std::string* follow);

  // The failure message of a request tshark did not decrypt.
  std::string NotDecrypted(const std::string& follow) const;

  // Beside a capture (KeysMode::kBesideCapture), once KeysBeside returned:
  // what each end of pair sent, captured whole, and nothing lost.
  void ExpectBothEndsCaptured(const PeerPair& pair, const PeerOptions& server,
                              const PeerOptions& client) const;

  TempDir dir_;
  Certificate cert_;
  const std::string tap_log_ = dir_ / "tap.keys";
  KeysTap tap_;
};

template <typename Param>
class KeysParamTest : public KeysBpfTest, public ::testing::WithParamInterface<Param> {};

}  // namespace tlstap::bpf_test
