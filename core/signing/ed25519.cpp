// SPDX-License-Identifier: Apache-2.0
#include "signing/ed25519.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <fstream>
#include <sstream>

#include "util/digest.hpp"
#include "util/error.hpp"

namespace haul {

namespace {

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (!e) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

std::shared_ptr<EVP_PKEY> own(EVP_PKEY* k) { return std::shared_ptr<EVP_PKEY>(k, EVP_PKEY_free); }

std::string bio_string(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

}  // namespace

std::string base64_encode_bytes(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

bool base64_decode_bytes(const std::string& text, std::string& out) {
  if (text.empty() || text.size() % 4 != 0) return false;
  out.assign(text.size() / 4 * 3 + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return false;
  size_t len = static_cast<size_t>(n);
  // EVP_DecodeBlock counts padding as zero bytes.
  if (text.size() >= 1 && text[text.size() - 1] == '=') --len;
  if (text.size() >= 2 && text[text.size() - 2] == '=') --len;
  out.resize(len);
  return true;
}

Ed25519Key Ed25519Key::generate() {
  EVP_PKEY* raw = nullptr;
  std::unique_ptr<EVP_PKEY_CTX, void (*)(EVP_PKEY_CTX*)> ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr),
                                                            EVP_PKEY_CTX_free);
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) <= 0 || EVP_PKEY_keygen(ctx.get(), &raw) <= 0)
    throw Error("cannot generate an Ed25519 key: " + openssl_error());
  Ed25519Key k;
  k.key_ = own(raw);
  k.private_ = true;
  k.compute_id();
  return k;
}

Ed25519Key Ed25519Key::from_pem(const std::string& pem, const std::string& origin) {
  std::unique_ptr<BIO, int (*)(BIO*)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  Ed25519Key k;
  if (pem.find("PRIVATE KEY-----") != std::string::npos) {
    k.key_ = own(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    k.private_ = true;
  } else if (pem.find("PUBLIC KEY-----") != std::string::npos) {
    k.key_ = own(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  } else {
    throw Error(origin + ": not a PEM key; expected a file made by `haul keygen` (-----BEGIN PUBLIC KEY----- or PRIVATE KEY)");
  }
  if (!k.key_) throw Error(origin + ": cannot read the PEM key: " + openssl_error());
  if (EVP_PKEY_get_id(k.key_.get()) != EVP_PKEY_ED25519)
    throw Error(origin + ": the key is not Ed25519 (haul signs with Ed25519 only)");
  k.compute_id();
  return k;
}

Ed25519Key Ed25519Key::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read key file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return from_pem(ss.str(), path);
}

void Ed25519Key::compute_id() {
  unsigned char raw[32];
  size_t len = sizeof raw;
  if (EVP_PKEY_get_raw_public_key(key_.get(), raw, &len) != 1) throw Error("cannot read the public key: " + openssl_error());
  Hasher h("sha256");
  h.update(raw, len);
  id_ = h.hex_digest().substr(0, 16);
}

std::string Ed25519Key::private_pem() const {
  std::unique_ptr<BIO, int (*)(BIO*)> bio(BIO_new(BIO_s_mem()), BIO_free);
  if (!private_ || PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
    throw Error("cannot write the private key: " + openssl_error());
  return bio_string(bio.get());
}

std::string Ed25519Key::public_pem() const {
  std::unique_ptr<BIO, int (*)(BIO*)> bio(BIO_new(BIO_s_mem()), BIO_free);
  if (PEM_write_bio_PUBKEY(bio.get(), key_.get()) != 1) throw Error("cannot write the public key: " + openssl_error());
  return bio_string(bio.get());
}

std::string Ed25519Key::sign(const std::string& message) const {
  if (!private_) throw Error("key " + id_ + " is a public key; signing needs the private key file");
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  std::string sig(64, '\0');
  size_t len = sig.size();
  if (EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1)
    throw Error("cannot sign with key " + id_ + ": " + openssl_error());
  sig.resize(len);
  return sig;
}

bool Ed25519Key::verify(const std::string& message, const std::string& signature) const {
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) != 1) return false;
  const int rc = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                                  signature.size(), reinterpret_cast<const unsigned char*>(message.data()),
                                  message.size());
  ERR_clear_error();
  return rc == 1;
}

}  // namespace haul
