// nss_workload: bench/ssl_workload's ping-pong on NSS, the NSS workload of
// bench/run.py (--stack nss). Same flags, same output lines.
//
// A client and a server PRFileDesc, both made TLS by SSL_ImportFD, live in one
// thread on the two ends of a loopback TCP connection (NSS's SSL layer wants
// an IP peer: over PR_NewTCPSocketPair, an AF_UNIX pair on Linux, its
// handshake fails with PR_ADDRESS_NOT_SUPPORTED_ERROR). Each iteration the client writes one
// message of --size bytes (PR_Write), the server reads it (PR_Read) and writes
// it back, and the client reads it. "ssl_calls" counts every PR_Write/PR_Read
// made in the timed loop, the probe hits per function. --api takes only
// "plain".
//
// NSS finds its server certificate in a database: at start-up certutil makes
// a throwaway one (a self-signed P-256 certificate, nickname "server") in a
// temporary directory, removed at exit. That costs about a second before the
// handshake; nothing of it is timed.
//
// Command line and output lines: bench/workload.h.

#include <cert.h>
#include <fcntl.h>
#include <keyhi.h>
#include <nss.h>
#include <pk11pub.h>
#include <prerror.h>
#include <prinit.h>
#include <prio.h>
#include <prnetdb.h>
#include <spawn.h>
#include <ssl.h>
#include <sslproto.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/workload.h"

extern char** environ;

namespace {

using namespace tlstap::bench;

// One fatal error: NSPR's error code, set by the failed call, explains it.
[[noreturn]] void Fail(const std::string& what) {
  PRErrorCode code = PR_GetError();
  const char* name = PR_ErrorToName(code);
  throw std::runtime_error(what + ": " + (name ? name : "error " + std::to_string(code)));
}

// A directory under $TMPDIR (or /tmp), removed with everything in it.
class TempDir {
 public:
  TempDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/tlstap-nss-bench-XXXXXX";
    if (mkdtemp(templ.data()) == nullptr) {
      throw std::runtime_error("mkdtemp " + templ + ": " + std::strerror(errno));
    }
    path_ = templ;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Runs certutil with its output in LOG; throws with that output on failure.
void RunCertutil(std::vector<std::string> args, const std::string& log) {
  args.insert(args.begin(), "certutil");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = 0;
  int err = posix_spawnp(&pid, "certutil", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) {
    throw std::runtime_error(std::string("cannot run certutil (install libnss3-tools): ") +
                             std::strerror(err));
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::ifstream in(log);
    std::stringstream out;
    out << in.rdbuf();
    throw std::runtime_error("certutil " + args[1] + " failed:\n" + out.str());
  }
}

// An empty-password NSS database in DIR holding a self-signed P-256
// certificate and its key, nickname "server".
void MakeNssDb(const std::string& dir) {
  const std::string db = "sql:" + dir;
  const std::string noise = dir + "/noise";
  const std::string log = dir + "/certutil.log";
  std::random_device random;
  std::string bytes;
  for (int i = 0; i < 64; ++i) bytes += static_cast<char>(random());
  std::ofstream(noise, std::ios::binary) << bytes;
  RunCertutil({"-N", "-d", db, "--empty-password"}, log);
  RunCertutil({"-S", "-d", db, "-n", "server", "-s", "CN=tlstap-bench", "-x", "-t", "CT,,", "-k",
               "ec", "-q", "nistp256", "-z", noise, "-v", "2"},
              log);
}

struct CertFree {
  void operator()(CERTCertificate* p) const { CERT_DestroyCertificate(p); }
};
struct KeyFree {
  void operator()(SECKEYPrivateKey* p) const { SECKEY_DestroyPrivateKey(p); }
};
struct FdClose {
  void operator()(PRFileDesc* p) const { PR_Close(p); }
};
using CertPtr = std::unique_ptr<CERTCertificate, CertFree>;
using KeyPtr = std::unique_ptr<SECKEYPrivateKey, KeyFree>;
using FdPtr = std::unique_ptr<PRFileDesc, FdClose>;

// NSS initialised on a database; shut down (with the server session cache)
// when it goes, after every object taken from it.
class NssContext {
 public:
  explicit NssContext(const std::string& dir) {
    if (NSS_Init(("sql:" + dir).c_str()) != SECSuccess) Fail("NSS_Init");
    if (NSS_SetDomesticPolicy() != SECSuccess) Fail("NSS_SetDomesticPolicy");
    if (SSL_ConfigServerSessionIDCache(0, 0, 0, nullptr) != SECSuccess) {
      Fail("SSL_ConfigServerSessionIDCache");
    }
  }
  NssContext(const NssContext&) = delete;
  NssContext& operator=(const NssContext&) = delete;
  ~NssContext() {
    SSL_ShutdownServerSessionIDCache();
    NSS_Shutdown();
  }
};

SECStatus AcceptAnyCertificate(void*, PRFileDesc*, PRBool, PRBool) { return SECSuccess; }

// Pushes NSS's SSL layer onto FD (the pointer stays the top of the stack).
void ImportFd(PRFileDesc* fd, bool server, uint16_t version) {
  if (SSL_ImportFD(nullptr, fd) != fd) Fail("SSL_ImportFD");
  SSLVersionRange range{version, version};
  if (SSL_OptionSet(fd, SSL_SECURITY, PR_TRUE) != SECSuccess ||
      SSL_OptionSet(fd, server ? SSL_HANDSHAKE_AS_SERVER : SSL_HANDSHAKE_AS_CLIENT, PR_TRUE) !=
          SECSuccess ||
      SSL_VersionRangeSet(fd, &range) != SECSuccess) {
    Fail("SSL_OptionSet/SSL_VersionRangeSet");
  }
}

void SetOption(PRFileDesc* fd, PRSocketOptionData option) {
  if (PR_SetSocketOption(fd, &option) != PR_SUCCESS) Fail("PR_SetSocketOption");
}

// A TCP connection over 127.0.0.1 from *client to *server, without Nagle's
// delay (a ping-pong never has more than one message in flight, but a record
// is not held back for an ACK either way).
void ConnectLoopback(FdPtr* client, FdPtr* server) {
  FdPtr listener(PR_OpenTCPSocket(PR_AF_INET));
  client->reset(PR_OpenTCPSocket(PR_AF_INET));
  if (!listener || !*client) Fail("PR_OpenTCPSocket");
  PRNetAddr addr;
  if (PR_InitializeNetAddr(PR_IpAddrLoopback, 0, &addr) != PR_SUCCESS ||
      PR_Bind(listener.get(), &addr) != PR_SUCCESS || PR_Listen(listener.get(), 1) != PR_SUCCESS ||
      PR_GetSockName(listener.get(), &addr) != PR_SUCCESS) {
    Fail("listen on 127.0.0.1");
  }
  if (PR_Connect(client->get(), &addr, PR_INTERVAL_NO_TIMEOUT) != PR_SUCCESS) Fail("PR_Connect");
  server->reset(PR_Accept(listener.get(), nullptr, PR_INTERVAL_NO_TIMEOUT));
  if (!*server) Fail("PR_Accept");
  PRSocketOptionData no_delay;
  no_delay.option = PR_SockOpt_NoDelay;
  no_delay.value.no_delay = PR_TRUE;
  SetOption(client->get(), no_delay);
  SetOption(server->get(), no_delay);
}

void SetNonBlocking(PRFileDesc* fd, bool on) {
  PRSocketOptionData option;
  option.option = PR_SockOpt_Nonblocking;
  option.value.non_blocking = on ? PR_TRUE : PR_FALSE;
  SetOption(fd, option);
}

// Writes the whole message (blocking: one call).
void WriteAll(PRFileDesc* fd, const unsigned char* buf, size_t len, Counters* c) {
  size_t done = 0;
  while (done < len) {
    ++c->ssl_calls;
    PRInt32 r = PR_Write(fd, buf + done, static_cast<PRInt32>(len - done));
    if (r <= 0) Fail("PR_Write");
    done += static_cast<size_t>(r);
    c->bytes_written += static_cast<size_t>(r);
  }
}

// Reads until len bytes arrived; a 16 KiB message is one TLS record, so
// normally one call.
void ReadAll(PRFileDesc* fd, unsigned char* buf, size_t len, Counters* c) {
  size_t done = 0;
  while (done < len) {
    ++c->ssl_calls;
    PRInt32 r = PR_Read(fd, buf + done, static_cast<PRInt32>(len - done));
    if (r == 0) throw std::runtime_error("PR_Read: the peer closed");
    if (r < 0) Fail("PR_Read");
    done += static_cast<size_t>(r);
    c->bytes_read += static_cast<size_t>(r);
  }
}

void Run(const WorkloadOptions& o) {
  const uint16_t tls_version = o.tls12 ? SSL_LIBRARY_VERSION_TLS_1_2 : SSL_LIBRARY_VERSION_TLS_1_3;
  TempDir dir;
  MakeNssDb(dir.path());
  NssContext nss(dir.path());

  CertPtr cert(CERT_FindCertByNickname(CERT_GetDefaultCertDB(), "server"));
  if (!cert) Fail("CERT_FindCertByNickname server");
  KeyPtr key(PK11_FindKeyByAnyCert(cert.get(), nullptr));
  if (!key) Fail("PK11_FindKeyByAnyCert");

  FdPtr client;
  FdPtr server;
  ConnectLoopback(&client, &server);

  ImportFd(client.get(), false, tls_version);
  if (SSL_AuthCertificateHook(client.get(), AcceptAnyCertificate, nullptr) != SECSuccess ||
      SSL_SetURL(client.get(), "tlstap-bench") != SECSuccess) {
    Fail("SSL_AuthCertificateHook/SSL_SetURL");
  }
  ImportFd(server.get(), true, tls_version);
  if (SSL_ConfigServerCert(server.get(), cert.get(), key.get(), nullptr, 0) != SECSuccess) {
    Fail("SSL_ConfigServerCert");
  }
  if (SSL_ResetHandshake(client.get(), PR_FALSE) != SECSuccess ||
      SSL_ResetHandshake(server.get(), PR_TRUE) != SECSuccess) {
    Fail("SSL_ResetHandshake");
  }

  SetNonBlocking(client.get(), true);
  SetNonBlocking(server.get(), true);
  // A step is done at success; PR_WOULD_BLOCK_ERROR waits for the other side.
  auto step = [](PRFileDesc* fd, const char* what) {
    if (SSL_ForceHandshake(fd) == SECSuccess) return true;
    if (PR_GetError() != PR_WOULD_BLOCK_ERROR) Fail(what);
    return false;
  };
  Handshake([&] { return step(client.get(), "client handshake"); },
            [&] { return step(server.get(), "server handshake"); });
  SetNonBlocking(client.get(), false);
  SetNonBlocking(server.get(), false);

  auto fd = [&](Side side) { return side == Side::kClient ? client.get() : server.get(); };
  RunRoundTrips(
      o,
      [&](Side side, const unsigned char* buf, size_t len, Counters* c) {
        WriteAll(fd(side), buf, len, c);
      },
      [&](Side side, unsigned char* buf, size_t len, Counters* c) {
        ReadAll(fd(side), buf, len, c);
      });
}

}  // namespace

int main(int argc, char** argv) {
  WorkloadOptions o = ParseWorkloadOptions(argc, argv, "nss_workload", false);
  return WorkloadMain("nss_workload", [&o] { Run(o); });
}
