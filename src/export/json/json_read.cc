#include "export/json/json_read.h"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <sys/socket.h>
#include <zlib.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>

namespace tlstap::exporting {
namespace {

using nlohmann::json;

std::unexpected<Error> bad(std::string what) {
  return fail(ExitCode::kFailure, "not a tlstap JSON line: " + std::move(what));
}

// "127.0.0.1:8443", "[::1]:8443", "unix" or null: the inverse of
// capture::format_endpoint.
Result<capture::Endpoint> parse_endpoint(const json& v) {
  capture::Endpoint e;
  if (v.is_null()) return e;
  if (!v.is_string()) return bad("an address is not a string");
  const std::string& s = v.get_ref<const std::string&>();
  if (s == "unix") {
    e.family = AF_UNIX;
    return e;
  }
  size_t colon = s.rfind(':');
  if (colon == std::string::npos) return bad("address " + s);
  std::string host = s.substr(0, colon);
  e.family = AF_INET;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    e.family = AF_INET6;
  }
  const char* port = s.data() + colon + 1;
  auto [end, ec] = std::from_chars(port, s.data() + s.size(), e.port);
  if (ec != std::errc() || end != s.data() + s.size() ||
      inet_pton(e.family, host.c_str(), e.addr.data()) != 1) {
    return bad("address " + s);
  }
  return e;
}

Result<std::string> decode_base64(const std::string& text) {
  if (text.size() % 4 != 0) return bad("data is not base64");
  std::string out(text.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return bad("data is not base64");
  // EVP_DecodeBlock counts the padding's zero bytes in.
  size_t pad = text.empty() ? 0 : (text.back() == '=') + (text.size() > 1 && text.end()[-2] == '=');
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

// The writer escapes every byte of a string outside printable ASCII as
// \u00XX, which the parser turns into UTF-8: back to the bytes.
std::string bytes_of(const std::string& utf8) {
  std::string out;
  for (size_t i = 0; i < utf8.size(); ++i) {
    auto c = static_cast<unsigned char>(utf8[i]);
    if ((c & 0xe0) == 0xc0 && i + 1 < utf8.size()) {
      out.push_back(static_cast<char>(((c & 0x1f) << 6) | (utf8[++i] & 0x3f)));
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

template <typename Enum>
std::optional<Enum> enum_named(std::string_view name, std::string_view (*name_of)(Enum),
                               std::initializer_list<Enum> values) {
  for (Enum v : values) {
    if (name_of(v) == name) return v;
  }
  return std::nullopt;
}

}  // namespace

Result<std::optional<capture::DataEvent>> parse_data_line(std::string_view line) {
  json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("type")) return bad("no object with a type");
  if (j["type"] != "data") return std::optional<capture::DataEvent>();
  using capture::Attribution;
  using capture::Dir;
  using capture::Lib;
  try {
    capture::DataEvent e;
    e.ts_ns = j.at("ts_ns").get<uint64_t>();
    e.pid = j.at("pid").get<pid_t>();
    e.tid = j.at("tid").get<pid_t>();
    e.comm = bytes_of(j.at("comm").get<std::string>());
    if (j.contains("thread")) e.thread = bytes_of(j.at("thread").get<std::string>());
    e.uid = j.at("uid").get<uint32_t>();
    e.cgroup_id = j.at("cgroup_id").get<uint64_t>();
    e.fd = j.at("fd").get<int32_t>();
    e.conn_id = j.at("conn_id").get<uint64_t>();
    e.stream_pos = j.at("stream_pos").get<uint64_t>();
    e.len = j.at("len").get<uint64_t>();
    e.ktls = j.value("ktls", false);
    auto lib = enum_named(j.at("lib").get<std::string>(), capture::lib_name,
                          {Lib::kOpenSsl, Lib::kBoringSsl, Lib::kGnuTls, Lib::kNss, Lib::kGo,
                           Lib::kKtls, Lib::kUnknown});
    auto dir = enum_named(j.at("dir").get<std::string>(), capture::dir_name, {Dir::kTx, Dir::kRx});
    auto attribution = enum_named(j.at("attribution").get<std::string>(), capture::attribution_name,
                                  {Attribution::kNone, Attribution::kSyscall, Attribution::kCached,
                                   Attribution::kThread, Attribution::kConn, Attribution::kSocket});
    if (!lib || !dir || !attribution) return bad("unknown lib, dir or attribution");
    e.lib = *lib;
    e.dir = *dir;
    e.attribution = *attribution;
    auto local = parse_endpoint(j.at("laddr"));
    if (!local) return std::unexpected(local.error());
    auto remote = parse_endpoint(j.at("raddr"));
    if (!remote) return std::unexpected(remote.error());
    e.local = *local;
    e.remote = *remote;
    if (j.contains("lost")) {
      for (const json& range : j["lost"]) {
        e.lost.emplace_back(range.at(0).get<uint64_t>(), range.at(1).get<uint64_t>());
      }
    }
    auto data = decode_base64(j.at("data").get<std::string>());
    if (!data) return std::unexpected(data.error());
    if (data->size() != j.at("captured").get<uint64_t>()) {
      return bad("data is not \"captured\" bytes long");
    }
    e.data = std::move(*data);
    return e;
  } catch (const json::exception& x) {
    return bad(x.what());
  }
}

Result<std::vector<capture::DataEvent>> read_data_events(const std::string& path) {
  // zlib reads a file that is not gzip as it is.
  gzFile in = gzopen(path.c_str(), "rb");
  if (!in) return fail(ExitCode::kFailure, "cannot open " + path + ": " + strerror(errno));
  std::vector<capture::DataEvent> events;
  std::string line;
  char buf[1 << 16];
  size_t number = 0;
  while (gzgets(in, buf, sizeof(buf))) {
    line += buf;
    if (line.back() != '\n') continue;
    ++number;
    auto event = parse_data_line(line);
    if (!event) {
      gzclose(in);
      return fail(ExitCode::kFailure,
                  path + " line " + std::to_string(number) + ": " + event.error().message);
    }
    if (*event) events.push_back(std::move(**event));
    line.clear();
  }
  int err = 0;
  const char* message = gzerror(in, &err);
  std::string error = err == Z_OK || err == Z_STREAM_END ? "" : message;
  gzclose(in);
  if (!error.empty()) return fail(ExitCode::kFailure, "cannot read " + path + ": " + error);
  if (!line.empty()) return fail(ExitCode::kFailure, path + ": the last line is cut short");
  return events;
}

}  // namespace tlstap::exporting
