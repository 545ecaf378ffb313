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
// Output (stdout, one JSON object per line):
//   with --wait-stdin:  {"ready":<pid>}  after the handshake, then it waits
//                       for a newline (or EOF) on stdin before the timed loop;
//   always, at the end: {"size":..,"count":..,"seconds":..,"bytes_written":..,
//                        "bytes_read":..,"ssl_calls":..,"pid":..}

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
#include <chrono>
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
#include <string_view>
#include <vector>

extern char** environ;

namespace {

struct Options {
  size_t size = 64;
  uint64_t count = 10000;
  uint16_t tls_version = SSL_LIBRARY_VERSION_TLS_1_3;
  bool wait_stdin = false;
};

[[noreturn]] void Usage(const char* why) {
  std::fprintf(stderr,
               "nss_workload: %s\n"
               "usage: nss_workload [--size BYTES] [--count N] [--api plain] [--tls 1.2|1.3]"
               " [--wait-stdin]\n",
               why);
  std::exit(2);
}

// One fatal error: NSPR's error code, set by the failed call, explains it.
[[noreturn]] void Fail(const std::string& what) {
  PRErrorCode code = PR_GetError();
  const char* name = PR_ErrorToName(code);
  throw std::runtime_error(what + ": " + (name ? name : "error " + std::to_string(code)));
}

uint64_t ParseNumber(const char* flag, const char* text) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v == 0) {
    Usage((std::string(flag) + " wants a positive integer").c_str());
  }
  return v;
}

Options ParseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) Usage((std::string(arg) + " needs a value").c_str());
      return argv[++i];
    };
    if (arg == "--size") {
      o.size = ParseNumber("--size", value());
    } else if (arg == "--count") {
      o.count = ParseNumber("--count", value());
    } else if (arg == "--api") {
      if (std::string_view(value()) != "plain") Usage("--api is plain (NSPR has no _ex forms)");
    } else if (arg == "--tls") {
      std::string_view v = value();
      if (v == "1.2") {
        o.tls_version = SSL_LIBRARY_VERSION_TLS_1_2;
      } else if (v == "1.3") {
        o.tls_version = SSL_LIBRARY_VERSION_TLS_1_3;
      } else {
        Usage("--tls is 1.2 or 1.3");
      }
    } else if (arg == "--wait-stdin") {
      o.wait_stdin = true;
    } else {
      Usage(("unknown argument " + std::string(arg)).c_str());
    }
  }
  return o;
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

// Drives both ends of the handshake from one thread: each side runs until it
// would block on the other, then the other side gets its turn.
void Handshake(PRFileDesc* client, PRFileDesc* server) {
  bool client_done = false;
  bool server_done = false;
  for (int round = 0; !(client_done && server_done); ++round) {
    if (round > 1000) throw std::runtime_error("handshake does not finish");
    if (!client_done) {
      if (SSL_ForceHandshake(client) == SECSuccess) {
        client_done = true;
      } else if (PR_GetError() != PR_WOULD_BLOCK_ERROR) {
        Fail("client handshake");
      }
    }
    if (!server_done) {
      if (SSL_ForceHandshake(server) == SECSuccess) {
        server_done = true;
      } else if (PR_GetError() != PR_WOULD_BLOCK_ERROR) {
        Fail("server handshake");
      }
    }
  }
}

struct Counters {
  uint64_t bytes_written = 0;
  uint64_t bytes_read = 0;
  uint64_t ssl_calls = 0;
};

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

// Blocks until the driver writes a newline (or closes stdin).
void WaitForStdin() {
  for (;;) {
    char ch;
    ssize_t n = read(STDIN_FILENO, &ch, 1);
    if (n == 0 || (n == 1 && ch == '\n')) return;
    if (n < 0 && errno != EINTR) {
      throw std::runtime_error(std::string("read stdin: ") + std::strerror(errno));
    }
  }
}

int Run(const Options& o) {
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

  ImportFd(client.get(), false, o.tls_version);
  if (SSL_AuthCertificateHook(client.get(), AcceptAnyCertificate, nullptr) != SECSuccess ||
      SSL_SetURL(client.get(), "tlstap-bench") != SECSuccess) {
    Fail("SSL_AuthCertificateHook/SSL_SetURL");
  }
  ImportFd(server.get(), true, o.tls_version);
  if (SSL_ConfigServerCert(server.get(), cert.get(), key.get(), nullptr, 0) != SECSuccess) {
    Fail("SSL_ConfigServerCert");
  }
  if (SSL_ResetHandshake(client.get(), PR_FALSE) != SECSuccess ||
      SSL_ResetHandshake(server.get(), PR_TRUE) != SECSuccess) {
    Fail("SSL_ResetHandshake");
  }

  SetNonBlocking(client.get(), true);
  SetNonBlocking(server.get(), true);
  Handshake(client.get(), server.get());
  SetNonBlocking(client.get(), false);
  SetNonBlocking(server.get(), false);

  std::vector<unsigned char> message(o.size);
  for (size_t i = 0; i < message.size(); ++i) message[i] = static_cast<unsigned char>('a' + i % 26);
  std::vector<unsigned char> server_buf(o.size);
  std::vector<unsigned char> client_buf(o.size);

  if (o.wait_stdin) {
    std::printf("{\"ready\":%d}\n", getpid());
    std::fflush(stdout);
    WaitForStdin();
  }

  Counters c;
  auto start = std::chrono::steady_clock::now();
  for (uint64_t i = 0; i < o.count; ++i) {
    WriteAll(client.get(), message.data(), message.size(), &c);
    ReadAll(server.get(), server_buf.data(), server_buf.size(), &c);
    WriteAll(server.get(), server_buf.data(), server_buf.size(), &c);
    ReadAll(client.get(), client_buf.data(), client_buf.size(), &c);
  }
  std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;

  if (client_buf != message) throw std::runtime_error("echoed message differs from the sent one");

  std::printf(
      "{\"size\":%zu,\"count\":%llu,\"seconds\":%.6f,\"bytes_written\":%llu,\"bytes_read\":%llu,"
      "\"ssl_calls\":%llu,\"pid\":%d}\n",
      o.size, static_cast<unsigned long long>(o.count), elapsed.count(),
      static_cast<unsigned long long>(c.bytes_written),
      static_cast<unsigned long long>(c.bytes_read), static_cast<unsigned long long>(c.ssl_calls),
      getpid());
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = ParseOptions(argc, argv);
  try {
    return Run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nss_workload: %s\n", e.what());
    return 1;
  }
}
