#include "keys/hmac_openssl.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace tlstap::keys {

HmacFn openssl_hmac() {
  return [](size_t len, std::span<const uint8_t> key, std::span<const uint8_t> data, uint8_t* out) {
    unsigned int out_len = 0;
    const EVP_MD* md = len == 48 ? EVP_sha384() : EVP_sha256();
    return HMAC(md, key.data(), static_cast<int>(key.size()), data.data(), data.size(), out,
                &out_len) != nullptr &&
           out_len == len;
  };
}

}  // namespace tlstap::keys
