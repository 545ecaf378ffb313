#include "capture/decoder.h"

#include <sys/sysmacros.h>

#include <cstring>

namespace tlstap::capture {

Record decode(std::span<const uint8_t> bytes) {
  uint32_t type = 0;
  if (bytes.size() < sizeof(type)) return Malformed{};
  std::memcpy(&type, bytes.data(), sizeof(type));

  switch (type) {
    case TLSTAP_RECORD_DATA: {
      DataChunk chunk;
      if (bytes.size() < sizeof(chunk.header)) return Malformed{};
      std::memcpy(&chunk.header, bytes.data(), sizeof(chunk.header));
      const tlstap_data_event& h = chunk.header;
      size_t room = bytes.size() - sizeof(h);
      if (h.data_len > room || h.data_len > TLSTAP_CHUNK_MAX ||
          h.call_offset + h.data_len > h.call_len) {
        return Malformed{};
      }
      chunk.payload =
          std::string_view(reinterpret_cast<const char*>(bytes.data() + sizeof(h)), h.data_len);
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
          m.ino, m.fd};
    }
    default:
      return Malformed{};
  }
}

}  // namespace tlstap::capture
