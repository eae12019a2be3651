// SPDX-License-Identifier: Apache-2.0
// The hook phases of a deploy (pre, post, verify, rollback, success,
// failure): every hook of the pipeline called with the deploy's context —
// what the HAUL_* environment of the commands says comes from here.
#pragma once

#include <string>
#include <vector>

#include "deploy/deploy_context.hpp"
#include "deploy/hook_phase.hpp"

namespace haul {

class JournalScope;

// Throws the first hook's error. journal: records the commands' process
// groups while they run; stop: what cancels them (ctx.abort by default).
void run_phase(DeployContext& ctx, haul_phase phase, const std::vector<std::string>& commands,
               JournalScope* journal = nullptr, StopSignal* stop = nullptr);

// success/failure: a failing hook is logged, never changes the result. They
// run even after an abort (with their own timeouts): the failure notice is
// how an operator learns that a deploy was aborted.
void run_outcome_phase(DeployContext& ctx, haul_phase phase, const std::vector<std::string>& commands,
                       const std::string& error);

}  // namespace haul
