// What tlstap-keyprobe's probers share: reporting a failure, the bytes of
// a heap object, and narrowing down where a value sits across objects.
#pragma once

#include <malloc.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <span>
#include <string>
#include <vector>

namespace tlstap::keys {

// "error why" on standard output (what tlstap reads), exit 1.
[[noreturn]] inline void die(const std::string& why) {
  printf("error %s\n", why.c_str());
  fflush(stdout);
  exit(1);
}

inline std::span<const uint8_t> object_bytes(const void* p) {
  return {static_cast<const uint8_t*>(p), p ? malloc_usable_size(const_cast<void*>(p)) : 0};
}

inline std::vector<uint32_t> find_all(std::span<const uint8_t> hay, std::span<const uint8_t> needle,
                                      size_t step) {
  std::vector<uint32_t> at;
  if (needle.empty()) return at;
  for (size_t i = 0; i + needle.size() <= hay.size(); i += step) {
    if (memcmp(hay.data() + i, needle.data(), needle.size()) == 0) at.push_back(i);
  }
  return at;
}

// Offsets where every object has the value: the field.
class Candidates {
 public:
  explicit Candidates(const char* what, const char* objects = "SSL objects")
      : what_(what), objects_(objects) {}
  void add(const std::vector<uint32_t>& found) {
    if (first_) {
      set_ = found;
      first_ = false;
      return;
    }
    std::vector<uint32_t> both;
    std::set_intersection(set_.begin(), set_.end(), found.begin(), found.end(),
                          std::back_inserter(both));
    set_ = both;
  }
  bool empty() const { return !first_ && set_.empty(); }
  uint32_t pick() const {
    if (set_.empty()) die(std::string("no place in its ") + objects_ + " holds the " + what_);
    return set_.front();
  }

 private:
  const char* what_;
  const char* objects_;
  bool first_ = true;
  std::vector<uint32_t> set_;
};

// The GnuTLS prober (keyprobe_gnutls.cc): tlstap-keyprobe --gnutls FILE.
int gnutls_probe_main(const char* path);
// The BoringSSL prober (keyprobe_boring.cc): tlstap-keyprobe --boringssl FILE.
int boringssl_probe_main(const char* path);

}  // namespace tlstap::keys
