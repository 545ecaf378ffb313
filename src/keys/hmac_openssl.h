// HMAC-SHA-256/384 from the libcrypto tlstap is linked to.
#pragma once

#include "keys/openssl_secrets.h"

namespace tlstap::keys {

HmacFn openssl_hmac();

}  // namespace tlstap::keys
