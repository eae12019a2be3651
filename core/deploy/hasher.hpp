// Streaming digest over the artifact's bytes (OpenSSL EVP), so the checksum
// is computed while the bytes flow to the extractor — no second read.
#pragma once

#include <openssl/evp.h>

#include <cstddef>
#include <string>

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
  EVP_MD_CTX* ctx_;
};

// SHA-256 of a buffer in lower-case hex (manifests, pointers, small files).
std::string sha256_hex(const void* data, size_t len);
inline std::string sha256_hex(const std::string& bytes) { return sha256_hex(bytes.data(), bytes.size()); }

}  // namespace haul
