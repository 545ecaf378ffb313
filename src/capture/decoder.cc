#include "capture/decoder.h"

#include <sys/sysmacros.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

namespace tlstap::capture {

Record decode(std::span<const uint8_t> bytes) {
  uint32_t type = 0;
  if (bytes.size() < sizeof(type)) return Malformed{};
  std::memcpy(&type, bytes.data(), sizeof(type));

  switch (type) {
    case TLSTAP_RECORD_DATA: {
      DataChunk chunk;
      if (bytes.size() < sizeof(tlstap_data_record)) return Malformed{};
      std::memcpy(&chunk.header, bytes.data(), sizeof(chunk.header));
      const tlstap_data_event& h = chunk.header;
      size_t room = bytes.size() - sizeof(tlstap_data_record);
      if (h.data_len > room || h.data_len > TLSTAP_CHUNK_MAX ||
          h.call_offset + h.data_len > h.call_len) {
        return Malformed{};
      }
      const char* thread =
          reinterpret_cast<const char*>(bytes.data() + offsetof(tlstap_data_record, thread));
      chunk.thread = std::string_view(thread, strnlen(thread, TLSTAP_COMM_LEN));
      chunk.payload = std::string_view(
          reinterpret_cast<const char*>(bytes.data() + sizeof(tlstap_data_record)), h.data_len);
      return chunk;
    }
    case TLSTAP_RECORD_FILE_MAPPED: {
      tlstap_file_mapped m;
      if (bytes.size() < sizeof(m)) return Malformed{};
      std::memcpy(&m, bytes.data(), sizeof(m));
      // The kernel keeps dev as major << 20 | minor; stat() reports makedev().
      return FileMappedEvent{
          static_cast<pid_t>(m.pid),
          makedev(static_cast<unsigned>(m.dev >> 20), static_cast<unsigned>(m.dev & 0xfffff)),
          m.ino,
          m.fd,
          m.ts_ns,
          std::string(m.comm, strnlen(m.comm, sizeof(m.comm))),
          m.hold};
    }
    case TLSTAP_RECORD_KEYS: {
      tlstap_keys_event k;
      if (bytes.size() < sizeof(k)) return Malformed{};
      std::memcpy(&k, bytes.data(), sizeof(k));
      SecretsEvent e;
      e.ts_ns = k.ts_ns;
      e.conn_id = k.conn_id;
      e.pid = static_cast<pid_t>(k.pid);
      e.tid = static_cast<pid_t>(k.tid);
      e.comm.assign(k.comm, strnlen(k.comm, sizeof(k.comm)));
      e.lib = static_cast<Lib>(k.lib);
      e.version = k.version;
      std::memcpy(e.client_random.data(), k.client_random, sizeof(k.client_random));
      const uint8_t* tail = bytes.data() + sizeof(k);
      e.final_secrets = k.layout == TLSTAP_KEYS_FINAL || k.layout == TLSTAP_KEYS_FINAL_HANDSHAKE;
      e.handshake_only = k.layout == TLSTAP_KEYS_FINAL_HANDSHAKE;
      if (k.version == TLSTAP_TLS13_VERSION && e.final_secrets) {
        tlstap_keys_tls13_final t;
        if (bytes.size() < sizeof(k) + sizeof(t)) return Malformed{};
        std::memcpy(&t, tail, sizeof(t));
        e.hash_len = t.hash_len;
        std::memcpy(e.client_hs_secret.data(), t.client_hs_secret, TLSTAP_SECRET_FIELD);
        std::memcpy(e.server_hs_secret.data(), t.server_hs_secret, TLSTAP_SECRET_FIELD);
        std::memcpy(e.client_app_secret.data(), t.client_app_secret, TLSTAP_SECRET_FIELD);
        std::memcpy(e.server_app_secret.data(), t.server_app_secret, TLSTAP_SECRET_FIELD);
        std::memcpy(e.exporter_secret.data(), t.exporter_secret, TLSTAP_SECRET_FIELD);
      } else if (k.version == TLSTAP_TLS13_VERSION) {
        tlstap_keys_tls13 t;
        if (bytes.size() < sizeof(k) + sizeof(t)) return Malformed{};
        std::memcpy(&t, tail, sizeof(t));
        std::memcpy(e.handshake_secret.data(), t.handshake_secret, TLSTAP_SECRET_FIELD);
        std::memcpy(e.handshake_traffic_hash.data(), t.handshake_traffic_hash, TLSTAP_SECRET_FIELD);
        std::memcpy(e.client_finished_secret.data(), t.client_finished_secret, TLSTAP_SECRET_FIELD);
        std::memcpy(e.client_app_secret.data(), t.client_app_secret, TLSTAP_SECRET_FIELD);
        std::memcpy(e.server_app_secret.data(), t.server_app_secret, TLSTAP_SECRET_FIELD);
        std::memcpy(e.exporter_secret.data(), t.exporter_secret, TLSTAP_SECRET_FIELD);
      } else {
        tlstap_keys_tls12 t;
        if (bytes.size() < sizeof(k) + sizeof(t)) return Malformed{};
        std::memcpy(&t, tail, sizeof(t));
        std::memcpy(e.master_key.data(), t.master_key, sizeof(t.master_key));
      }
      return e;
    }
    case TLSTAP_RECORD_LOGGED_SECRET: {
      tlstap_logged_secret k;
      if (bytes.size() < sizeof(k)) return Malformed{};
      std::memcpy(&k, bytes.data(), sizeof(k));
      LoggedSecretEvent e;
      e.ts_ns = k.ts_ns;
      e.pid = static_cast<pid_t>(k.pid);
      e.tid = static_cast<pid_t>(k.tid);
      e.comm.assign(k.comm, strnlen(k.comm, sizeof(k.comm)));
      e.lib = static_cast<Lib>(k.lib);
      e.label_addr = k.label_addr;
      if (!e.label_addr) e.label.assign(k.label, std::min<size_t>(k.label_len, sizeof(k.label)));
      e.label_len = k.label_len;
      e.random_len = k.random_len;
      e.secret_len = k.secret_len;
      std::memcpy(e.client_random.data(), k.client_random, sizeof(k.client_random));
      std::memcpy(e.secret.data(), k.secret, sizeof(k.secret));
      return e;
    }
    case TLSTAP_RECORD_PACKET: {
      tlstap_packet_event h;
      if (bytes.size() < sizeof(h)) return Malformed{};
      std::memcpy(&h, bytes.data(), sizeof(h));
      if (h.captured > bytes.size() - sizeof(h) || h.captured > TLSTAP_PACKET_MAX ||
          h.captured > h.wire_len || (h.dir != TLSTAP_DIR_TX && h.dir != TLSTAP_DIR_RX)) {
        return Malformed{};
      }
      PacketEvent p;
      p.ts_ns = h.ts_ns;
      p.ifindex = h.ifindex;
      p.dir = static_cast<Dir>(h.dir);
      p.sock_cookie = h.sock_cookie;
      p.wire_len = h.wire_len;
      p.data =
          std::string_view(reinterpret_cast<const char*>(bytes.data() + sizeof(h)), h.captured);
      return p;
    }
    case TLSTAP_RECORD_CONN_END: {
      tlstap_conn_end c;
      if (bytes.size() < sizeof(c)) return Malformed{};
      std::memcpy(&c, bytes.data(), sizeof(c));
      return ConnEndEvent{c.ts_ns, static_cast<pid_t>(c.pid), c.conn_id};
    }
    default:
      return Malformed{};
  }
}

}  // namespace tlstap::capture
