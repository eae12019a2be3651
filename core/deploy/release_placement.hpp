// SPDX-License-Identifier: Apache-2.0
// Placing a release the capistrano way (sync_strategy: release; layout in
// release/release_store.hpp), in the engine's order (placement.hpp): staged
// with unchanged files hard-linked from the previous release, committed as
// releases/<id> (not live), then after pre its shared paths linked, flushed
// and `current` switched atomically. A failed post or verify switches
// `current` back and runs the rollback commands. Old releases beyond
// keep_releases are pruned once it is live.
#pragma once

#include <filesystem>

#include <memory>

#include "deploy/placement.hpp"

namespace haul {

std::unique_ptr<Placement> release_placement(DeployContext& ctx, const std::filesystem::path& dest);

}  // namespace haul
