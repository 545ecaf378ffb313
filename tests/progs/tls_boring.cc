// A TLS peer built against BoringSSL (Debian's android-libboringssl), for
// the bpf tests:
//
//   tls_boring server PORT CERT KEY VERSION SIZE
//     accepts one connection on 127.0.0.1:PORT, reads exactly SIZE bytes,
//     writes them back in one SSL_write, and waits for the client to close.
//   tls_boring client PORT VERSION
//     connects to 127.0.0.1:PORT, says "connected" on stderr, reads its stdin
//     to the end, sends it in one SSL_write, reads as many bytes back and
//     writes them to stdout.
//
// VERSION is 1.2 or 1.3. Exit status 0 on success; errors on stderr.
// With SSLKEYLOGFILE set, the library's key log lines are appended to that
// file (SSL_CTX_set_keylog_callback): the keys tests' oracle. With
// TLS_BORING_CIPHERS set, the TLS 1.2 cipher list is exactly that.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <iterator>
#include <string>

namespace {

[[noreturn]] void die(const std::string& what) {
  std::cerr << "tls_boring: " << what;
  if (uint32_t err = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof(buf));
    std::cerr << ": " << buf;
  } else if (errno) {
    std::cerr << ": " << strerror(errno);
  }
  std::cerr << "\n";
  exit(1);
}

sockaddr_in loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

FILE* g_keylog = nullptr;

void write_keylog(const SSL*, const char* line) {
  fprintf(g_keylog, "%s\n", line);
  fflush(g_keylog);
}

bssl::UniquePtr<SSL_CTX> make_ctx(const std::string& version) {
  bssl::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_method()));
  if (!ctx) die("SSL_CTX_new");
  uint16_t v = version == "1.2" ? TLS1_2_VERSION : TLS1_3_VERSION;
  if (version != "1.2" && version != "1.3") die("VERSION must be 1.2 or 1.3");
  if (!SSL_CTX_set_min_proto_version(ctx.get(), v) ||
      !SSL_CTX_set_max_proto_version(ctx.get(), v)) {
    die("cannot set the protocol version");
  }
  if (const char* path = getenv("SSLKEYLOGFILE")) {
    g_keylog = fopen(path, "a");
    if (!g_keylog) die(std::string("cannot open ") + path);
    SSL_CTX_set_keylog_callback(ctx.get(), write_keylog);
  }
  if (const char* ciphers = getenv("TLS_BORING_CIPHERS")) {
    if (!SSL_CTX_set_strict_cipher_list(ctx.get(), ciphers)) die(std::string("no ") + ciphers);
  }
  return ctx;
}

// Reads exactly n bytes, in as many SSL_read calls as it takes.
std::string read_exactly(SSL* ssl, size_t n) {
  std::string data(n, '\0');
  size_t got = 0;
  while (got < n) {
    int r = SSL_read(ssl, data.data() + got, static_cast<int>(std::min<size_t>(n - got, 1 << 20)));
    if (r <= 0)
      die("SSL_read after " + std::to_string(got) + " of " + std::to_string(n) + " bytes");
    got += static_cast<size_t>(r);
  }
  return data;
}

void write_all(SSL* ssl, const std::string& data) {
  if (data.empty()) return;
  // One call, however large: BoringSSL writes it all before returning.
  int r = SSL_write(ssl, data.data(), static_cast<int>(data.size()));
  if (r != static_cast<int>(data.size())) die("SSL_write returned " + std::to_string(r));
}

int server(int port, const char* cert, const char* key, const std::string& version, size_t size) {
  bssl::UniquePtr<SSL_CTX> ctx = make_ctx(version);
  if (!SSL_CTX_use_certificate_chain_file(ctx.get(), cert)) die("cannot load the certificate");
  if (!SSL_CTX_use_PrivateKey_file(ctx.get(), key, SSL_FILETYPE_PEM)) die("cannot load the key");
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr = loopback(port);
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) die("bind");
  if (listen(listener, 1) != 0) die("listen");
  int fd = accept(listener, nullptr, nullptr);
  if (fd < 0) die("accept");
  bssl::UniquePtr<SSL> ssl(SSL_new(ctx.get()));
  SSL_set_fd(ssl.get(), fd);
  if (SSL_accept(ssl.get()) != 1) die("SSL_accept");
  std::string data = read_exactly(ssl.get(), size);
  write_all(ssl.get(), data);
  char byte;
  SSL_read(ssl.get(), &byte, 1);  // until the client closes
  close(fd);
  close(listener);
  return 0;
}

int client(int port, const std::string& version) {
  bssl::UniquePtr<SSL_CTX> ctx = make_ctx(version);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = loopback(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) die("connect");
  bssl::UniquePtr<SSL> ssl(SSL_new(ctx.get()));
  SSL_set_fd(ssl.get(), fd);
  if (SSL_connect(ssl.get()) != 1) die("SSL_connect");
  std::cerr << "connected\n";
  std::string data{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
  write_all(ssl.get(), data);
  std::string back = read_exactly(ssl.get(), data.size());
  std::cout.write(back.data(), static_cast<std::streamsize>(back.size()));
  std::cout.flush();
  SSL_shutdown(ssl.get());
  close(fd);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "server" && argc == 7) {
    return server(atoi(argv[2]), argv[3], argv[4], argv[5], strtoull(argv[6], nullptr, 10));
  }
  if (mode == "client" && argc == 4) return client(atoi(argv[2]), argv[3]);
  std::cerr << "usage: tls_boring server PORT CERT KEY VERSION SIZE | client PORT VERSION\n";
  return 2;
}
