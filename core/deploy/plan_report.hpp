// SPDX-License-Identifier: Apache-2.0
// The dry run (`haul plan`, `haul deploy --dry-run`): what the placement
// would do, worked out from the verified artifact stream and compared with
// dest — files new, changed, deleted, kept by excludes; the release it
// replaces; the commands that would run — with nothing written.
#pragma once

#include <string>

#include "deploy/deploy_context.hpp"

namespace haul {

// After intake. The report is for a person to read.
std::string plan_report(DeployContext& ctx);

}  // namespace haul
