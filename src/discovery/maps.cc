// ParseMaps: /proc/PID/maps lines, as printed by the kernel's show_map_vma():
//   start-end perms offset major:minor inode [padding] path
#include <charconv>
#include <optional>
#include <string_view>

#include "discovery/targets.h"

namespace tlstap::discovery {
namespace {

template <typename T>
bool parse_number(std::string_view text, int base, T* out) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out, base);
  return ec == std::errc() && end == text.data() + text.size();
}

// Splits off the next space-delimited field; empty if there is none.
std::string_view next_field(std::string_view* rest) {
  size_t begin = rest->find_first_not_of(' ');
  if (begin == std::string_view::npos) {
    *rest = {};
    return {};
  }
  rest->remove_prefix(begin);
  size_t end = rest->find(' ');
  std::string_view field = rest->substr(0, end);
  rest->remove_prefix(end == std::string_view::npos ? rest->size() : end);
  return field;
}

std::optional<Mapping> parse_line(std::string_view line) {
  Mapping m;
  std::string_view rest = line;

  std::string_view range = next_field(&rest);
  size_t dash = range.find('-');
  if (dash == std::string_view::npos || !parse_number(range.substr(0, dash), 16, &m.start) ||
      !parse_number(range.substr(dash + 1), 16, &m.end)) {
    return std::nullopt;
  }

  std::string_view perms = next_field(&rest);
  if (perms.size() != 4) return std::nullopt;
  m.perms = perms;

  if (!parse_number(next_field(&rest), 16, &m.offset)) return std::nullopt;

  std::string_view dev = next_field(&rest);
  size_t colon = dev.find(':');
  if (colon == std::string_view::npos || !parse_number(dev.substr(0, colon), 16, &m.dev_major) ||
      !parse_number(dev.substr(colon + 1), 16, &m.dev_minor)) {
    return std::nullopt;
  }

  if (!parse_number(next_field(&rest), 10, &m.inode)) return std::nullopt;

  // The path is everything after the padding; it may itself contain spaces.
  size_t path_begin = rest.find_first_not_of(' ');
  if (path_begin != std::string_view::npos) m.path = rest.substr(path_begin);
  return m;
}

}  // namespace

std::vector<Mapping> parse_maps(std::string_view text) {
  std::vector<Mapping> mappings;
  while (!text.empty()) {
    size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    if (std::optional<Mapping> m = parse_line(line)) mappings.push_back(std::move(*m));
  }
  return mappings;
}

std::optional<UnhookedRuntime> unhooked_runtime(const std::vector<Mapping>& maps) {
  for (const Mapping& m : maps) {
    // The JVM: HotSpot (OpenJDK, Temurin, ...) and OpenJ9 both ship libjvm.so.
    std::string_view path = m.path;
    if (path.ends_with(" (deleted)")) path.remove_suffix(sizeof(" (deleted)") - 1);
    if (path.ends_with("/libjvm.so")) {
      return UnhookedRuntime{.name = "Java", .tls = "JSSE", .evidence = std::string(path)};
    }
  }
  return std::nullopt;
}

}  // namespace tlstap::discovery
