// SPDX-License-Identifier: Apache-2.0
// The rollout stage: with a pipeline `rollout:` block, a node that has
// fetched and verified the release waits here — before dest is touched —
// until the gate gives it a slot (canary, then batches of max_parallel), and
// reports its outcome when the deploy ends. A halted release is skipped:
// dest stays as it was, and the deploy fails with the halt's reason.
#pragma once

#include <string>

#include "deploy/deploy_context.hpp"

namespace haul {

// No-op without a gate. Throws Error (ctx.halted set) when the rollout is halted.
void wait_at_rollout_gate(DeployContext& ctx);

// The outcome of a deploy that held a slot; a failure to report is logged
// (the node's session lapsing frees the slot anyway). An interrupted deploy
// reports nothing: haul is stopping, and its session ends with it.
void leave_rollout_gate(DeployContext& ctx, bool succeeded, const std::string& error, bool interrupted = false);

// The name a release's rollout goes by: the manifest's release id, else
// "manifest-" and the start of its sha256 — the same on every node.
std::string rollout_name(const DeployContext& ctx);

// The gate call for this deploy's rollout, logging into the deploy's log.
GateCall gate_call(DeployContext& ctx);

}  // namespace haul
