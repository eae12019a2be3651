// SPDX-License-Identifier: Apache-2.0
// Placing a release the capistrano way (sync_strategy: release; layout in
// release/release_store.hpp): extracted into releases/<id> with unchanged
// files hard-linked from the previous release, pre, shared paths linked,
// flushed, `current` switched atomically, post and verify — and on their
// failure `current` switched back and the rollback commands run. Old
// releases beyond keep_releases are pruned at the end.
#pragma once

#include <filesystem>

#include "deploy/deploy_context.hpp"

namespace haul {

void place_as_release(DeployContext& ctx, const std::filesystem::path& dest);

}  // namespace haul
