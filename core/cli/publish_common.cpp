// SPDX-License-Identifier: Apache-2.0
#include "cli/publish_common.hpp"

#include <spdlog/spdlog.h>

#include <iostream>

#include "util/error.hpp"

namespace haul {

Ed25519Key load_signing_key(const std::string& path) {
  Ed25519Key key = Ed25519Key::load(path);
  if (!key.has_private())
    throw Error(path + ": a public key cannot sign; pass the .key file haul keygen wrote (the .pub goes to the agents)");
  return key;
}

void print_published(const PublishResult& r) {
  spdlog::info("published {} (sha256 {}) with {} manifest(s)", r.artifact_url, r.artifact_sha256, r.manifests.size());
  for (const auto& m : r.manifests) std::cout << m.url << "\n";
}

}  // namespace haul
