// SPDX-License-Identifier: Apache-2.0
// The first stage of a deploy: the manifest, fetched and verified before
// anything else happens — pinned to the desired-release pointer's sha256
// when there is one, signed by a trusted key when keys are configured, not
// older than what dest runs (replay protection), and parsed with the
// manifest checks. Fills ctx.manifest, ctx.manifest_text, ctx.manifest_sha256.
#pragma once

#include "deploy/deploy_context.hpp"

namespace haul {

enum class Intake {
  deploy,           // a new manifest: go on
  already_applied,  // the manifest request.unless_manifest_sha256 names: nothing to do
};

// Throws haul::Error naming the URL and what was expected.
Intake take_in_manifest(DeployContext& ctx);

}  // namespace haul
