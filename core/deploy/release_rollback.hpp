// SPDX-License-Identifier: Apache-2.0
// Switching `current` back to an earlier release: what `haul rollback` does,
// and what a node does by itself when the rollout of the release it
// switched to is halted with on_halt: rollback. The caller holds dest's lock.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "plugin/instance.hpp"
#include "release/release_store.hpp"
#include "util/stop_signal.hpp"

namespace haul {

// current -> releases/<target>; the release it leaves is marked
// rolled-back (unless it failed here); dest is pinned to target until the
// desired release changes from `desired` (what the pipeline's pointer names
// now; "" when unknown: the release rolled back from); target's own
// manifest rollback commands run through `hooks`.
void switch_back(ReleaseStore& store, const std::string& target, const std::optional<std::string>& current,
                 const std::string& pipeline, const std::vector<HookInstance*>& hooks, StopSignal& stop,
                 const std::string& desired = "");

// A rollout halted with on_halt: rollback, seen by a node that switched
// to `release_id`: takes dest's lock, and if current still points there,
// switches back to `previous_id` and tells the hooks (failure phase, with
// the halt as the error). Logs and returns false when there is nothing to
// undo (current moved on, no previous release).
struct HaltedRelease {
  std::string pipeline, rollout_release, dest, release_id, previous_id;
};
bool undo_halted_release(const HaltedRelease& halted, const std::vector<HookInstance*>& hooks,
                         std::chrono::milliseconds lock_timeout, StopSignal& stop);

}  // namespace haul
