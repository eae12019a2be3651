// SPDX-License-Identifier: Apache-2.0
// What `haul publish` and `haul release` share on the command line.
#pragma once

#include <string>

#include "publish/publisher.hpp"
#include "signing/ed25519.hpp"

namespace haul {

// A private key for --sign / sign:, with an error that says what was expected.
Ed25519Key load_signing_key(const std::string& path);

// One manifest URL per line on stdout; the rest in the log.
void print_published(const PublishResult& r);

}  // namespace haul
