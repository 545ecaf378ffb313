#include "tests/bpf/python_peer.h"

#include "tests/bpf/tlstap_session.h"

namespace tlstap::bpf_test {

std::string JoinSizes(const std::vector<size_t>& sizes) {
  std::string out;
  for (size_t s : sizes) out += (out.empty() ? "" : ",") + std::to_string(s);
  return out;
}

std::unique_ptr<Subprocess> StartPeer(const PeerOptions& o) {
  SpawnOptions spawn = Command(o.prefix);
  spawn.env = o.env;
  if (o.program.empty()) {
    spawn.argv.insert(spawn.argv.end(), {kPython, "-u", kPeerScript});
  } else {
    spawn.argv.insert(spawn.argv.end(), o.program.begin(), o.program.end());
  }
  for (const std::string& a :
       {o.role, o.mode, std::string("--host"), o.host, std::string("--port"),
        std::to_string(o.port), std::string("--tls"), o.tls, std::string("--sizes"),
        JoinSizes(o.sizes), std::string("--tag"), o.tag}) {
    spawn.argv.push_back(a);
  }
  if (!o.comm.empty()) spawn.argv.insert(spawn.argv.end(), {"--comm", o.comm});
  if (o.wait_go) spawn.argv.push_back("--wait-go");
  if (!o.thread.empty()) spawn.argv.insert(spawn.argv.end(), {"--thread", o.thread});
  if (o.sndbuf) spawn.argv.insert(spawn.argv.end(), {"--sndbuf", std::to_string(o.sndbuf)});
  if (o.rcvbuf) spawn.argv.insert(spawn.argv.end(), {"--rcvbuf", std::to_string(o.rcvbuf)});
  if (o.cert) spawn.argv.insert(spawn.argv.end(), {"--cert", o.cert->cert, "--key", o.cert->key});
  spawn.argv.insert(spawn.argv.end(), o.extra.begin(), o.extra.end());
  return std::make_unique<Subprocess>(std::move(spawn));
}

void WaitForPeerEvent(Subprocess& peer, const std::string& name, nlohmann::json* out,
                      std::chrono::milliseconds timeout) {
  auto find = [&name](std::string_view text, nlohmann::json* found) {
    size_t begin = 0;
    for (size_t nl; (nl = text.find('\n', begin)) != std::string_view::npos; begin = nl + 1) {
      nlohmann::json j = nlohmann::json::parse(text.substr(begin, nl - begin), nullptr, false);
      if (j.is_object() && j.value("event", "") == name) {
        if (found) *found = std::move(j);
        return true;
      }
    }
    return false;
  };
  bool arrived =
      peer.WaitForStdout([&](std::string_view text) { return find(text, nullptr); }, timeout);
  ASSERT_TRUE(arrived) << peer.command() << ": no \"" << name << "\" line within "
                       << timeout.count() << " ms (running: " << peer.running() << ")\nstdout:\n"
                       << peer.Stdout() << "\nstderr:\n"
                       << peer.Stderr();
  find(peer.Stdout(), out);
}

void WaitForListening(Subprocess& server, int* port) {
  nlohmann::json j;
  ASSERT_NO_FATAL_FAILURE(WaitForPeerEvent(server, "listening", &j));
  *port = j.at("port").get<int>();
}

void WaitForConnected(Subprocess& peer, PeerInfo* info) {
  nlohmann::json j;
  ASSERT_NO_FATAL_FAILURE(WaitForPeerEvent(peer, "connected", &j));
  info->pid = j.at("pid").get<pid_t>();
  info->fd = j.at("fd").get<int>();
  info->laddr = HostPort(j.at("laddr")[0].get<std::string>(), j.at("laddr")[1].get<int>());
  info->raddr = HostPort(j.at("raddr")[0].get<std::string>(), j.at("raddr")[1].get<int>());
  info->version = j.at("version").get<std::string>();
  info->libssl = j.at("libssl").get<std::vector<std::string>>();
  info->ktls_tx = j.value("ktls_tx", false);
  info->ktls_rx = j.value("ktls_rx", false);
  info->cipher = j.value("cipher", "");
}

void StartPair(const PeerOptions& server, const PeerOptions& client, PeerPair* out) {
  out->server_options = server;
  out->client_options = client;
  out->server = StartPeer(server);
  ASSERT_TRUE(out->server->ok()) << out->server->error();
  ASSERT_NO_FATAL_FAILURE(WaitForListening(*out->server, &out->client_options.port));
  out->client = StartPeer(out->client_options);
  ASSERT_TRUE(out->client->ok()) << out->client->error();
  ASSERT_NO_FATAL_FAILURE(WaitForConnected(*out->client, &out->client_info));
  ASSERT_NO_FATAL_FAILURE(WaitForConnected(*out->server, &out->server_info));
  ASSERT_EQ(out->client_info.pid, out->client->pid()) << "a wrapper did not exec the peer";
  ASSERT_EQ(out->server_info.raddr, out->client_info.laddr);
}

PeerOptions ServerOptions(const std::string& mode, const Certificate& cert) {
  PeerOptions o;
  o.role = "server";
  o.mode = mode;
  o.cert = &cert;
  return o;
}

PeerOptions ClientOptions(const std::string& mode, const PeerOptions& server) {
  PeerOptions o = server;
  o.role = "client";
  o.mode = mode;
  o.cert = nullptr;
  o.rcvbuf = 0;
  o.prefix.clear();
  o.env.clear();
  return o;
}

std::string PeerStream(const PeerOptions& o, const std::string& direction) {
  std::string out;
  for (size_t size : o.sizes) {
    out += Payload(o.tag + "/" + direction + "/" + std::to_string(size), size);
  }
  return out;
}

}  // namespace tlstap::bpf_test
