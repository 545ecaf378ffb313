#include "discovery/targets.h"

#include <memory>
#include <utility>

#include "discovery/elf_file.h"

namespace tlstap::discovery {
namespace {

// The OpenSSL functions the probes use; SSL_write and SSL_read are required.
const std::set<std::string, std::less<>>& openssl_functions() {
  static const std::set<std::string, std::less<>> names = {"SSL_write", "SSL_read", "SSL_write_ex",
                                                           "SSL_read_ex", "SSL_free"};
  return names;
}

// "libssl.so.3" -> "3", "libssl.so.1.1" -> "1.1", anything else -> "".
std::string version_from_soname(std::string_view soname) {
  constexpr std::string_view kSo = ".so.";
  size_t at = soname.rfind(kSo);
  if (at == std::string_view::npos) return "";
  return std::string(soname.substr(at + kSo.size()));
}

}  // namespace

std::string_view lib_kind_name(LibKind kind) {
  switch (kind) {
    case LibKind::kOpenSsl:
      return "openssl";
  }
  return "unknown";
}

Result<std::optional<Target>> inspect_file(const std::string& open_path) {
  Result<std::unique_ptr<internal::ElfFile>> elf = internal::ElfFile::open(open_path);
  if (!elf) return std::unexpected(std::move(elf.error()));

  std::map<std::string, uint64_t> offsets = (*elf)->find_functions(openssl_functions());
  if (!offsets.contains("SSL_write") || !offsets.contains("SSL_read")) {
    return std::optional<Target>();
  }

  Target target;
  target.id = (*elf)->id();
  target.kind = LibKind::kOpenSsl;
  target.path = open_path;
  target.open_path = open_path;
  target.version = version_from_soname((*elf)->soname());
  for (const auto& [name, offset] : offsets) {
    target.symbols.emplace(name, Symbol{name, offset});
  }
  return std::optional<Target>(std::move(target));
}

}  // namespace tlstap::discovery
