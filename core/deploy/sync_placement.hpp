// SPDX-License-Identifier: Apache-2.0
// Placing a release the two ways stretcher knew (sync_strategy rsync, mv),
// in the engine's order (placement.hpp): staged into a folder beside dest —
// for rsync, only what dest lacks or holds otherwise — then made ready (its
// mode, its content record, the exclude rules), and at commit synced into
// dest (rsync -a --delete semantics, excludes protected) or moved to it.
// Until commit, dest is not touched; neither can undo a commit.
#pragma once

#include <filesystem>

#include <memory>

#include "deploy/placement.hpp"

namespace haul {

std::unique_ptr<Placement> sync_placement(DeployContext& ctx, const std::filesystem::path& dest);

}  // namespace haul
