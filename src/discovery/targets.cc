#include "discovery/targets.h"

#include <elf.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <memory>
#include <utility>

#include "discovery/call_targets.h"
#include "discovery/elf_file.h"
#include "discovery/go_binary.h"

namespace tlstap::discovery {
namespace {

// A function only BoringSSL (and its forks) defines: tells it from OpenSSL.
constexpr char kBoringSslMarker[] = "SSL_CTX_set_custom_verify";

// The functions the probes use, and the ones that tell libraries apart. A
// library is OpenSSL-family if it defines SSL_write and SSL_read (BoringSSL
// if it also defines kBoringSslMarker), GnuTLS if it defines
// gnutls_record_send and gnutls_record_recv, NSS's NSPR if it defines
// PR_Write, PR_Read, PR_Send and PR_Recv, NSS's libssl3 if it defines
// SSL_ImportFD.
const std::set<std::string, std::less<>>& tls_functions() {
  static const std::set<std::string, std::less<>> names = {"SSL_write",
                                                           "SSL_read",
                                                           "SSL_write_ex",
                                                           "SSL_read_ex",
                                                           "SSL_free",
                                                           "SSL_do_handshake",
                                                           kBoringSslMarker,
                                                           "gnutls_record_send",
                                                           "gnutls_record_send2",
                                                           "gnutls_record_recv",
                                                           "gnutls_record_recv_seq",
                                                           "gnutls_deinit",
                                                           "PR_Write",
                                                           "PR_Writev",
                                                           "PR_Send",
                                                           "PR_Read",
                                                           "PR_Recv",
                                                           "PR_Close",
                                                           "PR_GetVersion",
                                                           "SSL_ImportFD"};
  return names;
}

// NSPR's version string, from PR_GetVersion: on x86-64 it is
// `lea rax, [rip + string]; ret`. "" when it is built otherwise.
std::string nspr_version(const internal::ElfFile& elf, uint64_t get_version_offset) {
  std::vector<uint8_t> code = elf.read(get_version_offset, 8);
  std::optional<uint64_t> vaddr = elf.vaddr(get_version_offset);
  if (elf.machine() != EM_X86_64 || !vaddr || code.size() < 8 || code[0] != 0x48 ||
      code[1] != 0x8d || code[2] != 0x05 || code[7] != 0xc3) {
    return "";
  }
  int32_t disp = static_cast<int32_t>(code[3] | code[4] << 8 | code[5] << 16 |
                                      static_cast<uint32_t>(code[6]) << 24);
  std::optional<uint64_t> at = elf.file_offset(*vaddr + 7 + disp);
  if (!at) return "";
  std::vector<uint8_t> text = elf.read(*at, 16);
  std::string version;
  for (uint8_t c : text) {
    if (c == 0) return version;
    if (!isdigit(c) && c != '.') return "";
    version += static_cast<char>(c);
  }
  return "";
}

bool needs_gnutls(const internal::ElfFile& elf) {
  std::vector<std::string> needed = elf.needed();
  return std::any_of(needed.begin(), needed.end(),
                     [](const std::string& lib) { return lib.starts_with("libgnutls.so."); });
}

// "libssl.so.3" -> "3", "libssl.so.1.1" -> "1.1", anything else -> "".
std::string version_from_soname(std::string_view soname) {
  constexpr std::string_view kSo = ".so.";
  size_t at = soname.rfind(kSo);
  if (at == std::string_view::npos) return "";
  return std::string(soname.substr(at + kSo.size()));
}

// How much of a wrapper function to decode: OpenSSL's SSL_write is ~130 bytes
// including its cold error path.
constexpr size_t kWrapperBytes = 256;

std::vector<uint64_t> call_targets_of(const internal::ElfFile& elf, uint64_t file_offset) {
  std::optional<uint64_t> vaddr = elf.vaddr(file_offset);
  if (!vaddr) return {};
  std::vector<uint8_t> code = elf.read(file_offset, kWrapperBytes);
  return direct_call_targets(code, *vaddr, elf.machine());
}

// The function both exported wrappers call first: SSL_write_ex(...) is
// `return ssl_write_internal(...)` and SSL_write(...) calls it too. Taken
// only when the two agree, so a build laid out differently falls back to
// the exported functions instead of probing a wrong address.
std::optional<uint64_t> shared_internal(const internal::ElfFile& elf, uint64_t ex_offset,
                                        uint64_t plain_offset) {
  std::vector<uint64_t> from_ex = call_targets_of(elf, ex_offset);
  std::vector<uint64_t> from_plain = call_targets_of(elf, plain_offset);
  if (from_ex.empty()) return std::nullopt;
  if (std::find(from_plain.begin(), from_plain.end(), from_ex.front()) == from_plain.end()) {
    return std::nullopt;
  }
  return elf.file_offset(from_ex.front());
}

// Adds "ssl_write_internal" and "ssl_read_internal" to the symbols when the
// wrappers lead to them unambiguously.
void find_internals(const internal::ElfFile& elf, std::map<std::string, Symbol>* symbols) {
  auto offset = [&](const char* name) -> std::optional<uint64_t> {
    auto it = symbols->find(name);
    return it == symbols->end() ? std::nullopt : std::optional(it->second.file_offset);
  };
  auto write_ex = offset("SSL_write_ex"), write = offset("SSL_write");
  auto read_ex = offset("SSL_read_ex"), read = offset("SSL_read");
  if (!write_ex || !write || !read_ex || !read) return;
  auto write_internal = shared_internal(elf, *write_ex, *write);
  auto read_internal = shared_internal(elf, *read_ex, *read);
  if (!write_internal || !read_internal || *write_internal == *read_internal) return;
  (*symbols)["ssl_write_internal"] = Symbol{"ssl_write_internal", *write_internal};
  (*symbols)["ssl_read_internal"] = Symbol{"ssl_read_internal", *read_internal};
}

// Where a found function sits in the target's file, if it was found.
std::optional<uint64_t> symbol_offset(const Target& target, const char* name) {
  auto it = target.symbols.find(name);
  if (it == target.symbols.end()) return std::nullopt;
  return it->second.file_offset;
}

constexpr char kGoWrite[] = "crypto/tls.(*Conn).Write";
constexpr char kGoRead[] = "crypto/tls.(*Conn).Read";
// Called with every secret crypto/tls derives (tlstap keys); may be absent.
constexpr char kGoWriteKeyLog[] = "crypto/tls.(*Config).writeKeyLog";

// "1.19.8" -> {1, 19}; anything unreadable -> {0, 0}.
std::pair<int, int> major_minor(const std::string& version) {
  int major = 0, minor = 0;
  if (std::sscanf(version.c_str(), "%d.%d", &major, &minor) != 2) return {0, 0};
  return {major, minor};
}

constexpr char kGoSchedinit[] = "runtime.schedinit";

// A Go program is a target if it contains crypto/tls's (*Conn).Write and
// Read; its probes need the register ABI (Go 1.17+) of x86-64 and every
// return instruction of both functions. writeKeyLog, where secrets are
// read, is noted when present; its entry is all that is probed. A Go
// program tlstap cannot probe is still a Target, with the reason in
// not_probed. The version comes from .go.buildinfo, else from
// runtime.buildVersion, else from the table's layout.
Result<std::optional<Target>> inspect_go(const internal::ElfFile& elf, const std::string& open_path,
                                         const internal::GoFile& go) {
  Target target;
  target.kind = LibKind::kGo;
  target.id = elf.id();
  target.path = open_path;
  target.open_path = open_path;
  target.version = go.buildinfo_version.value_or("");
  auto not_probed = [&](std::string why) {
    target.symbols.clear();
    target.returns.clear();
    target.not_probed = std::move(why);
    return std::optional<Target>(std::move(target));
  };
  std::set<std::string, std::less<>> wanted = {kGoWrite, kGoRead, kGoWriteKeyLog};
  if (target.version.empty()) wanted.insert(kGoSchedinit);
  auto functions = internal::go_functions(elf, go, wanted);
  if (!functions) {
    if (target.version.empty() && go.layout) target.version = layout_versions(*go.layout);
    return not_probed(functions.error().message);
  }
  if (auto schedinit = functions->find(kGoSchedinit); schedinit != functions->end()) {
    target.version = internal::runtime_build_version(elf, schedinit->second)
                         .value_or(layout_versions(*go.layout));
    functions->erase(schedinit);
  }
  if (!functions->contains(kGoWrite) || !functions->contains(kGoRead)) {
    return not_probed("no crypto/tls.(*Conn).Write and Read in it (it makes no TLS connections)");
  }
  if (elf.machine() != EM_X86_64) return not_probed("Go programs are probed on x86-64 only");
  if (major_minor(target.version) < std::pair(1, 17)) {
    return not_probed("built before Go 1.17, whose functions take arguments on the stack");
  }
  for (const auto& [name, range] : *functions) {
    std::optional<uint64_t> offset = elf.file_offset(range.vaddr);
    if (!offset) return not_probed(name + " lies outside the loaded segments");
    if (name == kGoWriteKeyLog) {
      target.symbols.emplace(name, Symbol{name, *offset});
      continue;
    }
    std::vector<uint8_t> code = elf.read(*offset, range.size);
    auto returns = return_addresses(code, range.vaddr, elf.machine());
    if (!returns || returns->empty() || code.size() != range.size) {
      return not_probed("cannot find every return instruction of " + name);
    }
    target.symbols.emplace(name, Symbol{name, *offset});
    std::vector<uint64_t>& at = target.returns[name];
    for (uint64_t vaddr : *returns) at.push_back(*elf.file_offset(vaddr));
  }
  return std::optional<Target>(std::move(target));
}

}  // namespace

GoProbePoints go_probe_points(const Target& target) {
  auto returns = [&target](const char* name) {
    auto it = target.returns.find(name);
    return it == target.returns.end() ? std::vector<uint64_t>() : it->second;
  };
  return {.write = symbol_offset(target, kGoWrite),
          .read = symbol_offset(target, kGoRead),
          .write_returns = returns(kGoWrite),
          .read_returns = returns(kGoRead),
          .write_key_log = symbol_offset(target, kGoWriteKeyLog)};
}

OpenSslProbePoints openssl_probe_points(const Target& target) {
  auto at = [&target](const char* name) { return symbol_offset(target, name); };
  if (auto write = at("ssl_write_internal"), read = at("ssl_read_internal"); write && read) {
    return {.write = std::nullopt,
            .write_ex = write,
            .read = std::nullopt,
            .read_ex = read,
            .free = at("SSL_free"),
            .handshake = at("SSL_do_handshake")};
  }
  return {at("SSL_write"),   at("SSL_write_ex"), at("SSL_read"),
          at("SSL_read_ex"), at("SSL_free"),     at("SSL_do_handshake")};
}

GnuTlsProbePoints gnutls_probe_points(const Target& target) {
  auto at = [&target](const char* name) { return symbol_offset(target, name); };
  // gnutls_record_send is a tail call of gnutls_record_send2 (3.6.3+): probing
  // both would see one call twice, and programs may call either.
  std::optional<uint64_t> send = at("gnutls_record_send2");
  return {.send = send ? send : at("gnutls_record_send"),
          .recv = at("gnutls_record_recv"),
          .recv_seq = at("gnutls_record_recv_seq"),
          .deinit = at("gnutls_deinit")};
}

NssProbePoints nss_probe_points(const Target& target) {
  auto at = [&target](const char* name) { return symbol_offset(target, name); };
  return {.write = at("PR_Write"),
          .writev = at("PR_Writev"),
          .send = at("PR_Send"),
          .read = at("PR_Read"),
          .recv = at("PR_Recv"),
          .close = at("PR_Close"),
          .import_fd = at("SSL_ImportFD")};
}

const Stack& stack_of(LibKind kind) {
  for (const Stack& stack : kStacks) {
    if (stack.kind == kind) return stack;
  }
  return kStacks[0];  // unreachable: every kind has its line
}

std::string_view lib_kind_name(LibKind kind) { return stack_of(kind).name; }

std::optional<LibKind> lib_kind_from_name(std::string_view name) {
  for (LibKind kind : kLibKinds) {
    if (lib_kind_name(kind) == name) return kind;
  }
  return std::nullopt;
}

std::string PlanCache::key_of(const internal::ElfFile& elf) {
  std::optional<std::vector<uint8_t>> id = elf.note("GNU", NT_GNU_BUILD_ID);
  const char* owner = "gnu:";
  if (!id || id->empty()) {
    id = elf.note("Go", internal::kGoBuildIdNote);
    owner = "go:";
  }
  if (!id || id->empty()) return "";
  std::string key = owner;
  char hex[3];
  for (uint8_t b : *id) {
    snprintf(hex, sizeof(hex), "%02x", b);
    key += hex;
  }
  return key + "/" + std::to_string(elf.size());
}

const std::optional<Target>* PlanCache::find(const std::string& key) const {
  auto it = plans_.find(key);
  if (it == plans_.end()) return nullptr;
  ++hits_;
  return &it->second;
}

void PlanCache::add(const std::string& key, const std::optional<Target>& plan) {
  if (plans_.size() >= kMaxEntries) plans_.clear();
  plans_.insert_or_assign(key, plan);
}

namespace {

Result<std::optional<Target>> inspect_elf(const internal::ElfFile& elf,
                                          const std::string& open_path) {
  if (std::optional<internal::GoFile> go = internal::identify_go(elf)) {
    return inspect_go(elf, open_path, *go);
  }

  std::map<std::string, uint64_t> offsets = elf.find_functions(tls_functions());
  Target target;
  target.version = version_from_soname(elf.soname());
  bool nspr = offsets.contains("PR_Write") && offsets.contains("PR_Read") &&
              offsets.contains("PR_Send") && offsets.contains("PR_Recv");
  if (offsets.contains("gnutls_record_send") && offsets.contains("gnutls_record_recv")) {
    target.kind = LibKind::kGnuTls;
  } else if (nspr || offsets.contains("SSL_ImportFD")) {
    target.kind = LibKind::kNss;
    // "Version: NSS 3.87.1" (libssl3 carries it for `ident`)
    constexpr std::string_view kNssVersion = "Version: NSS ";
    std::string nss = elf.find_rodata_string(kNssVersion);
    auto get_version = offsets.find("PR_GetVersion");
    if (!nss.empty()) {
      target.version = nss.substr(kNssVersion.size());
    } else if (get_version != offsets.end()) {
      std::string nspr_v = nspr_version(elf, get_version->second);
      target.version = nspr_v.empty() ? "NSPR" : "NSPR " + nspr_v;
    }
  } else if (offsets.contains("SSL_write") && offsets.contains("SSL_read") && !needs_gnutls(elf)) {
    target.kind = offsets.contains(kBoringSslMarker) ? LibKind::kBoringSsl : LibKind::kOpenSsl;
  } else {
    return std::optional<Target>();
  }
  target.id = elf.id();
  target.path = open_path;
  target.open_path = open_path;
  for (const auto& [name, offset] : offsets) {
    target.symbols.emplace(name, Symbol{name, offset});
  }
  if (target.kind == LibKind::kOpenSsl) find_internals(elf, &target.symbols);
  return std::optional<Target>(std::move(target));
}

}  // namespace

Result<std::optional<Target>> inspect_file(const std::string& open_path, PlanCache* cache) {
  Result<std::unique_ptr<internal::ElfFile>> elf = internal::ElfFile::open(open_path);
  if (!elf) return std::unexpected(std::move(elf.error()));
  const std::string key = cache ? PlanCache::key_of(**elf) : "";
  if (!key.empty()) {
    if (const std::optional<Target>* plan = cache->find(key)) {
      std::optional<Target> copy = *plan;
      if (copy) {
        copy->id = (*elf)->id();
        copy->path = copy->open_path = open_path;
        copy->pids.clear();
      }
      return copy;
    }
  }
  Result<std::optional<Target>> found = inspect_elf(**elf, open_path);
  if (found && !key.empty()) cache->add(key, *found);
  return found;
}

}  // namespace tlstap::discovery
