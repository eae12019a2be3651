// Rollouts as a gate's control("status") describes them, printed for a
// person: `haul rollout status` and the rollout part of `haul status`.
#pragma once

#include <nlohmann/json.hpp>

#include <ostream>
#include <string>

namespace haul {

// One block per rollout: progress, policy, counts per state, and with
// `nodes` one line per node. Returns true when a rollout is halted.
bool print_rollouts(std::ostream& out, const std::string& pipeline, const nlohmann::json& answer, bool nodes);

}  // namespace haul
