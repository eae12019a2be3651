// SPDX-License-Identifier: Apache-2.0
#include "signing/manifest_signature.hpp"

#include <sstream>

#include "util/error.hpp"

namespace haul {

std::string make_signature_file(const Ed25519Key& key, const std::string& manifest_bytes) {
  return "haul-signature 1\nkey " + key.id() + "\ned25519 " + base64_encode_bytes(key.sign(manifest_bytes)) + "\n";
}

std::string signature_url(const std::string& manifest_url) { return manifest_url + ".sig"; }

TrustedKeys TrustedKeys::load(const std::vector<std::string>& paths) {
  TrustedKeys t;
  for (const auto& p : paths) t.keys_.push_back(Ed25519Key::load(p));
  return t;
}

std::string TrustedKeys::ids() const {
  std::string s;
  for (const auto& k : keys_) s += (s.empty() ? "" : ", ") + k.id();
  return s;
}

std::string TrustedKeys::verify(const std::string& url, const std::string& manifest,
                                const std::string& sig_file) const {
  const std::string where = signature_url(url);
  std::istringstream in(sig_file);
  std::string line, key_id, sig_b64;
  int n = 0;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    ++n;
    if (n == 1 && line != "haul-signature 1")
      throw Error(where + ": not a haul signature (first line '" + line.substr(0, 40) + "', expected 'haul-signature 1')");
    if (line.rfind("key ", 0) == 0) key_id = line.substr(4);
    if (line.rfind("ed25519 ", 0) == 0) sig_b64 = line.substr(8);
  }
  if (n == 0) throw Error(where + ": empty signature file");
  std::string sig;
  if (key_id.empty() || !base64_decode_bytes(sig_b64, sig) || sig.size() != 64)
    throw Error(where + ": malformed signature; expected lines 'key <id>' and 'ed25519 <base64 of 64 bytes>'");
  for (const auto& k : keys_) {
    if (k.id() != key_id) continue;
    if (!k.verify(manifest, sig))
      throw Error(url + ": the signature by key " + key_id +
                  " does not match the manifest's bytes (the manifest or its .sig was altered); refusing it");
    return key_id;
  }
  throw Error(url + ": signed by key " + key_id + ", which is not a trusted key (trusted: " + ids() +
              "); add its .pub to trusted_keys if it is yours");
}

}  // namespace haul
