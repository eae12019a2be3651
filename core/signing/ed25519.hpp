// SPDX-License-Identifier: Apache-2.0
// Ed25519 keys and detached signatures through OpenSSL (EVP one-shot
// DigestSign/DigestVerify). Keys live in PEM files: PKCS#8 for the private
// key (written 0600), SubjectPublicKeyInfo for the public one — the files
// `openssl genpkey -algorithm ed25519` and `openssl pkey -pubout` make, so an
// operator can make or inspect keys with either tool. A key is named by its
// id: the first 16 hex digits of the SHA-256 of the raw 32-byte public key.
#pragma once

#include <memory>
#include <string>

struct evp_pkey_st;

namespace haul {

class Ed25519Key {
 public:
  static Ed25519Key generate();
  // Private or public PEM; origin names the file in errors.
  static Ed25519Key from_pem(const std::string& pem, const std::string& origin);
  static Ed25519Key load(const std::string& path);

  bool has_private() const { return private_; }
  std::string id() const { return id_; }
  std::string private_pem() const;
  std::string public_pem() const;

  std::string sign(const std::string& message) const;  // 64 raw bytes
  bool verify(const std::string& message, const std::string& signature) const;

 private:
  std::shared_ptr<evp_pkey_st> key_;
  bool private_ = false;
  std::string id_;
  void compute_id();
};

std::string base64_encode_bytes(const std::string& bytes);
// Empty optional-like: returns false when text is not valid base64.
bool base64_decode_bytes(const std::string& text, std::string& out);

}  // namespace haul
