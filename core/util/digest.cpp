// SPDX-License-Identifier: Apache-2.0
#include "util/digest.hpp"

#include <openssl/evp.h>

#include "util/error.hpp"

namespace haul {

Hasher::Hasher(const std::string& algorithm) : ctx_(EVP_MD_CTX_new()) {
  const EVP_MD* md = EVP_get_digestbyname(algorithm.c_str());
  if (!ctx_ || !md || EVP_DigestInit_ex(ctx_, md, nullptr) != 1) {
    EVP_MD_CTX_free(ctx_);
    throw Error("cannot compute " + algorithm + " digests with this OpenSSL");
  }
}

Hasher::~Hasher() { EVP_MD_CTX_free(ctx_); }

void Hasher::update(const void* data, size_t len) { EVP_DigestUpdate(ctx_, data, len); }

std::string Hasher::hex_digest() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_, md, &len);
  static const char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

std::string sha256_hex(const void* data, size_t len) {
  Hasher h("sha256");
  h.update(data, len);
  return h.hex_digest();
}

}  // namespace haul
