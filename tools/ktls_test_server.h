// The server ktls_client talks to when it is given no host: one TLS
// connection on 127.0.0.1 at a port the kernel picks, served by a thread of
// ktls_client itself, with kTLS enabled as well and a self-signed P-256
// certificate made in memory (no files). It answers one HTTP GET with
// kTestServerBody and closes.
#pragma once

#include <chrono>
#include <expected>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "tools/openssl_ktls.h"

namespace tlstap::tools {

inline constexpr char kTestServerBody[] = "hello from ktls_client's test server\n";

class KtlsTestServer {
 public:
  // Listens, and serves one connection on its own thread. The error is one line.
  static std::expected<std::unique_ptr<KtlsTestServer>, std::string> start();
  // Stops the thread if it still waits, and joins it.
  ~KtlsTestServer();
  KtlsTestServer(const KtlsTestServer&) = delete;
  KtlsTestServer& operator=(const KtlsTestServer&) = delete;

  int port() const { return port_; }
  // The server side's kTLS state once its handshake is over (it ends just
  // after the client's); the error if the handshake failed, or nullopt if
  // it has not ended within timeout.
  std::optional<std::expected<KtlsState, std::string>> handshake_result(
      std::chrono::milliseconds timeout);
  // Waits for the thread to finish; "" or what went wrong after the handshake.
  std::string finish();

 private:
  KtlsTestServer(SslCtxPtr ctx, int listener, int port);
  void serve();
  std::expected<void, std::string> serve_connection(int fd);

  SslCtxPtr ctx_;
  int listener_;
  int port_;
  std::promise<std::expected<KtlsState, std::string>> handshake_promise_;
  std::shared_future<std::expected<KtlsState, std::string>> handshake_;
  std::string error_;  // written by the thread, read after join
  std::thread thread_;
};

}  // namespace tlstap::tools
