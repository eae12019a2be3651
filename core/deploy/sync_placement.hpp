// SPDX-License-Identifier: Apache-2.0
// Placing a release the two ways stretcher knew (sync_strategy rsync, mv):
// under dest's lock and journal, the artifact is extracted into a staging
// folder beside dest — for rsync, only what dest lacks or holds otherwise —
// then pre runs, and the staging folder is synced into dest (rsync -a
// --delete semantics, excludes protected) or moved to it, then post runs.
// Until the sync starts, dest is not touched.
#pragma once

#include <filesystem>

#include "deploy/deploy_context.hpp"

namespace haul {

void place_by_sync(DeployContext& ctx, const std::filesystem::path& dest);

}  // namespace haul
