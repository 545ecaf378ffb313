// The bpf tier's surroundings: where the tools are, temporary directories,
// certificates made at test time, payloads, and a fixture that says why the
// tier cannot run (never a silent skip).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tlstap::bpf_test {

using namespace std::chrono_literals;

inline constexpr char kTlstap[] = TLSTAP_BINARY_DIR "/tlstap";
inline constexpr char kPeerScript[] = TLSTAP_SOURCE_DIR "/tests/progs/tls_peer.py";
// Debian's python3, whose _ssl links the system libssl.so.3 (PATH may lead to
// a pyenv build with its own OpenSSL first).
inline constexpr char kPython[] = "/usr/bin/python3";
inline constexpr char kOpenssl[] = "/usr/bin/openssl";
inline constexpr char kCurl[] = "/usr/bin/curl";
inline constexpr char kNode[] = "/usr/bin/node";
inline constexpr char kNodePeerScript[] = TLSTAP_SOURCE_DIR "/tests/progs/tls_node.js";
// tests/progs/tls_go built as is, stripped and as a PIE (tests/CMakeLists.txt).
inline constexpr char kGoPeerDir[] = TLSTAP_BINARY_DIR "/tests/progs";
inline constexpr char kSystemLibssl[] = "/usr/lib/x86_64-linux-gnu/libssl.so.3";
inline constexpr char kCertutil[] = "/usr/bin/certutil";  // NSS's (libnss3-tools)
inline constexpr char kTshark[] = "/usr/bin/tshark";

// `tshark -r path -d tcp.port==tls_port,tls args...`. tshark picks a TCP
// dissector by port, the server's first and then the other: an ephemeral
// client port that is some protocol's (44818 EtherNet/IP, 48898 ADS) would
// otherwise take a connection whose server port is no known one, and
// its TLS would not be decrypted (about 1 connection in 1000 on loopback).
std::vector<std::string> TsharkTls(const std::string& path, int tls_port,
                                   std::vector<std::string> args);

// The decrypted bytes of a TCP stream, client to server and back, from
// tshark's `-q -z follow,tls,ascii,N` output: "Node 0: ADDR:PORT" names the
// end whose blocks are not indented (the client, or the server when its
// port is server_port: tshark takes the first to send application data,
// which in TLS 1.3 may be the server's session tickets); after the
// "Node 1:" line, each block is its length (tab-indented for node 1) and
// then its bytes.
std::pair<std::string, std::string> SplitFollowTls(const std::string& follow, int server_port);

// A directory under $TMPDIR (or /tmp) removed with its contents at the end,
// kept if TLSTAP_KEEP_TMP is set (to look at a failure's files).
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

// A small tmpfs mounted at path (created 0700), for a full disk on demand;
// unmounted however the test ends. Mount() ASSERTs.
class SmallTmpfs {
 public:
  SmallTmpfs() = default;
  ~SmallTmpfs();
  SmallTmpfs(const SmallTmpfs&) = delete;
  SmallTmpfs& operator=(const SmallTmpfs&) = delete;
  void Mount(const std::string& path, std::string_view size);  // e.g. "128k"

 private:
  std::string path_;
};

// A self-signed P-256 certificate for CN=localhost, made with the openssl CLI.
struct Certificate {
  std::string cert, key;
};
void MakeCertificate(const TempDir& dir, Certificate* out);  // ASSERTs

// A throwaway NSS database in dir ("sql:" + dir.path()) holding a
// self-signed P-256 certificate for CN=localhost, nicknamed "server", made
// with certutil. ASSERTs.
void MakeNssDb(const TempDir& dir);

// size printable bytes, distinct per seed: SHA-256 hex digests of
// "<seed>/<block index>", concatenated (tests/progs/tls_peer.py makes the same).
std::string Payload(std::string_view seed, size_t size);

// "1 B", "16KiB", "1MiB": for parameter names.
std::string SizeName(size_t size);

// Equality of two byte strings that says where they differ instead of
// printing megabytes.
::testing::AssertionResult SameBytes(std::string_view actual, std::string_view expected);

void WriteFile(const std::string& path, std::string_view data);  // ASSERTs
std::string ReadFile(const std::string& path);

// Base fixture: fails (loudly, with the reason) when the tier cannot run
// here: not root, or a tool the tests drive is missing.
class BpfTest : public ::testing::Test {
 protected:
  void SetUp() override;
};

}  // namespace tlstap::bpf_test
