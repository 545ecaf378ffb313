// What tlstap-keyprobe's probers share: reporting a failure, the bytes of
// a heap object, narrowing down where a value sits across objects, and the
// in-memory handshake of the OpenSSL-shaped libraries (OpenSSL, BoringSSL).
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

// Connects two SSLs of an OpenSSL-shaped api (a struct of the library's
// SSL_set_bio, SSL_set_connect_state, SSL_set_accept_state,
// SSL_do_handshake, SSL_write, SSL_read, BIO_new, BIO_s_mem, BIO_read and
// BIO_write, loaded from the file under study) through memory BIOs, runs
// their handshake (client ssl[0], server ssl[1]) and sends "ping" each way,
// so that every secret is in place. moved(side, bytes) is shown each
// side's output as it is passed to the other.
template <typename Api, typename Moved>
void handshake_in_memory(const Api& api, void* const ssl[2], Moved moved) {
  void* in[2] = {api.BIO_new(api.BIO_s_mem()), api.BIO_new(api.BIO_s_mem())};
  void* out[2] = {api.BIO_new(api.BIO_s_mem()), api.BIO_new(api.BIO_s_mem())};
  for (int side = 0; side < 2; ++side) api.SSL_set_bio(ssl[side], in[side], out[side]);
  api.SSL_set_connect_state(ssl[0]);
  api.SSL_set_accept_state(ssl[1]);
  auto shuttle = [&](int from) {
    char buf[16384];
    std::string bytes;
    for (int n; (n = api.BIO_read(out[from], buf, sizeof(buf))) > 0;) {
      bytes.append(buf, n);
      api.BIO_write(in[1 - from], buf, n);
    }
    moved(from, bytes);
  };
  bool done[2] = {false, false};
  for (int round = 0; round < 32 && !(done[0] && done[1]); ++round) {
    for (int side = 0; side < 2; ++side) {
      if (!done[side]) done[side] = api.SSL_do_handshake(ssl[side]) == 1;
      shuttle(side);
    }
  }
  if (!done[0] || !done[1]) die("the in-memory handshake did not complete");
  char buf[64];
  for (int side = 0; side < 2; ++side) {
    if (api.SSL_write(ssl[side], "ping", 4) != 4) die("SSL_write failed");
    shuttle(side);
    if (api.SSL_read(ssl[1 - side], buf, sizeof(buf)) != 4) die("SSL_read failed");
    shuttle(1 - side);
  }
}

// The GnuTLS prober (keyprobe_gnutls.cc): tlstap-keyprobe --gnutls FILE.
int gnutls_probe_main(const char* path);
// The BoringSSL prober (keyprobe_boring.cc): tlstap-keyprobe --boringssl FILE.
int boringssl_probe_main(const char* path);

}  // namespace tlstap::keys
