#include "loader/hooks.h"

#include "bpf/tlstap.h"

namespace tlstap::loader {

// The programs are those of bpf/openssl.bpf.c, gnutls.bpf.c, nss.bpf.c and go.bpf.c.
std::vector<UprobeHook> hooks_for(const discovery::Target& t) {
  std::vector<UprobeHook> hooks;
  auto add = [&hooks](const std::optional<uint64_t>& offset, const char* entry, const char* exit) {
    if (offset) hooks.push_back({entry, exit, *offset});
  };
  switch (t.kind) {
    case discovery::LibKind::kOpenSsl:
    case discovery::LibKind::kBoringSsl: {
      discovery::OpenSslProbePoints p = discovery::openssl_probe_points(t);
      add(p.write, "ssl_write_enter", "ssl_call_exit");
      add(p.write_ex, "ssl_write_ex_enter", "ssl_call_exit");
      add(p.read, "ssl_read_enter", "ssl_call_exit");
      add(p.read_ex, "ssl_read_ex_enter", "ssl_call_exit");
      add(p.free, "ssl_free_enter", nullptr);
      break;
    }
    case discovery::LibKind::kGnuTls: {
      discovery::GnuTlsProbePoints p = discovery::gnutls_probe_points(t);
      add(p.send, "gnutls_send_enter", "gnutls_call_exit");
      add(p.recv, "gnutls_recv_enter", "gnutls_call_exit");
      add(p.recv_seq, "gnutls_recv_enter", "gnutls_call_exit");
      add(p.deinit, "gnutls_deinit_enter", nullptr);
      break;
    }
    case discovery::LibKind::kNss: {
      discovery::NssProbePoints p = discovery::nss_probe_points(t);
      add(p.write, "nspr_write_enter", "nspr_call_exit");
      add(p.writev, "nspr_writev_enter", "nspr_call_exit");
      add(p.send, "nspr_write_enter", "nspr_call_exit");  // (fd, buf, amount, flags, timeout)
      add(p.read, "nspr_read_enter", "nspr_call_exit");
      add(p.recv, "nspr_recv_enter", "nspr_call_exit");
      add(p.close, "nspr_close_enter", nullptr);
      add(p.import_fd, nullptr, "nss_import_fd_exit");
      break;
    }
    case discovery::LibKind::kGo: {
      discovery::GoProbePoints p = discovery::go_probe_points(t);
      add(p.write, "go_write_enter", nullptr);
      add(p.read, "go_read_enter", nullptr);
      for (uint64_t ret : p.write_returns) add(ret, "go_call_exit", nullptr);
      for (uint64_t ret : p.read_returns) add(ret, "go_call_exit", nullptr);
      break;
    }
  }
  return hooks;
}

std::vector<UprobeHook> key_hooks_for(const discovery::Target& t) {
  if (t.kind == discovery::LibKind::kBoringSsl) {
    std::optional<uint64_t> handshake = discovery::openssl_probe_points(t).handshake;
    if (!handshake) return {};
    return {{"ssl_handshake_enter", "ssl_handshake_exit", *handshake}};
  }
  if (t.kind != discovery::LibKind::kGo) return {};
  discovery::GoProbePoints p = discovery::go_probe_points(t);
  if (!p.write_key_log) return {};
  return {{"go_keylog_enter", nullptr, *p.write_key_log}};
}

uint8_t lib_code(discovery::LibKind kind) { return discovery::stack_of(kind).lib_code; }

}  // namespace tlstap::loader
