// SPDX-License-Identifier: Apache-2.0
// Cryptographic digests (OpenSSL EVP, kept out of this header): the
// manifest checksum computed while the artifact's bytes flow to the
// extractor — no second read — and SHA-256 of small things (manifests,
// pointers, keys).
#pragma once

#include <cstddef>
#include <string>

// OpenSSL's context type, declared so includers need not see <openssl/evp.h>.
struct evp_md_ctx_st;

namespace haul {

class Hasher {
 public:
  explicit Hasher(const std::string& algorithm);  // md5, sha1, sha256, sha512
  ~Hasher();
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;
  void update(const void* data, size_t len);
  std::string hex_digest();  // finishes the digest

 private:
  evp_md_ctx_st* ctx_;
};

// SHA-256 of a buffer in lower-case hex (manifests, pointers, small files).
std::string sha256_hex(const void* data, size_t len);
inline std::string sha256_hex(const std::string& bytes) { return sha256_hex(bytes.data(), bytes.size()); }

}  // namespace haul
