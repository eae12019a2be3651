// SPDX-License-Identifier: Apache-2.0
// What a trigger's event asks of a pipeline: its payload checked to be one
// manifest URL, and the pipeline's applied events asked whether it was
// taken already (exactly-once, also across restarts). Each refusal is
// logged here, once, naming the event.
#pragma once

#include <optional>
#include <string>

#include "deploy/deploy_engine.hpp"
#include "plugin/instance.hpp"
#include "release/applied_events.hpp"

namespace haul {

struct EventRequest {
  enum Kind { deploy, already_applied, malformed } kind = deploy;
  DeployRequest request;  // deploy: what to run
};

// applied: null without a state_dir (no dedup). expected_manifest_sha256:
// the desired-release check's, "" for a trigger's event.
EventRequest request_for_event(const std::string& pipeline, const TriggerEvent& ev,
                               const std::string& expected_manifest_sha256, AppliedEvents* applied);

// "<id>, ltime <n>" for the log.
std::string describe_event(const TriggerEvent& ev);

}  // namespace haul
