// SPDX-License-Identifier: Apache-2.0
// Rollouts as a gate's control("status") describes them, printed for a
// person: `haul rollout status` and the rollout part of `haul status`.
#pragma once

#include <nlohmann/json.hpp>

#include <ostream>
#include <string>

namespace haul {

// s as one word of a shell command, quoted only when it needs it.
std::string shell_quoted(const std::string& s);

// One block per rollout: progress, policy, counts per state, and with
// `nodes` one line per node. Returns true when a rollout is halted.
// where: what a printed `haul rollout` command needs to find the same
// rollouts (" --config /etc/haul/agent.yaml"), so it runs as pasted.
bool print_rollouts(std::ostream& out, const std::string& pipeline, const nlohmann::json& answer, bool nodes,
                    const std::string& where = "");

}  // namespace haul
