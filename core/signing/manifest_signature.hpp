// SPDX-License-Identifier: Apache-2.0
// Detached manifest signatures: `haul publish --sign KEY` writes
// <manifest>.sig beside each manifest; an agent with trusted_keys fetches it
// through the same source and checks it over the manifest's exact bytes
// before parsing them. The file is three lines of text:
//   haul-signature 1
//   key <key id>
//   ed25519 <base64 of the 64-byte signature>
// Several trusted keys may be configured at once (rotation: publish with the
// new key once every agent trusts both, then drop the old one).
#pragma once

#include <string>
#include <vector>

#include "signing/ed25519.hpp"

namespace haul {

std::string make_signature_file(const Ed25519Key& key, const std::string& manifest_bytes);

// URL of the signature for a manifest URL (query strings of presigned URLs
// are not supported: the signature sits at <path>.sig).
std::string signature_url(const std::string& manifest_url);

class TrustedKeys {
 public:
  TrustedKeys() = default;
  // Public (or private) key files; an error names the file.
  static TrustedKeys load(const std::vector<std::string>& paths);
  bool empty() const { return keys_.empty(); }
  std::string ids() const;  // "a1b2…, c3d4…"
  // Throws haul::Error naming the manifest URL and what is wrong: a
  // malformed signature file, an unknown key, or a signature that does not
  // match. Returns the id of the key that signed.
  std::string verify(const std::string& manifest_url, const std::string& manifest_bytes,
                     const std::string& signature_file) const;

 private:
  std::vector<Ed25519Key> keys_;
};

}  // namespace haul
