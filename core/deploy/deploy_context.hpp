// SPDX-License-Identifier: Apache-2.0
// What the stages of one deploy share (deploy_engine.cpp tells the story;
// intake, artifact_stream, the placements, rollout_gate and deploy_hooks are
// its stages): what it was given, and what hooks and the result are told
// (the manifest, the release and its folders, how far dest got). What one
// stage needs from another is passed as an argument, not left here; none
// calls back up. Lives for one run().
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "config/manifest.hpp"
#include "config/pipeline_config.hpp"
#include "deploy/deploy_engine.hpp"
#include "util/deploy_log.hpp"
#include "plugin/instance.hpp"
#include "util/stop_signal.hpp"

namespace haul {

struct DeployContext {
  DeployContext(const std::string& pipeline, const SourceSet& sources, const std::vector<HookInstance*>& hooks,
                const DeployOptions& options, const DeployRequest& request, StopSignal& abort,
                const RolloutGate& rollout = {})
      : pipeline(pipeline), sources(sources), hooks(hooks), options(options), request(request), abort(abort),
        rollout(rollout), log(pipeline) {}

  // Given.
  const std::string pipeline;
  const SourceSet& sources;
  const std::vector<HookInstance*>& hooks;
  const DeployOptions& options;
  const DeployRequest& request;
  StopSignal& abort;         // stop now, safely
  const RolloutGate rollout;  // gate null: no rollout
  StopSignal before_start;   // raised by a shutdown request or an abort: gives up while dest is untouched
  const DestOwner* owner = nullptr;  // DeployEngine's: who deploys, and whose dests are not ours
  DeployLog log;

  // Intake: the manifest as fetched and verified.
  Manifest manifest;
  std::string manifest_text, manifest_sha256;

  // Artifact stream.
  uint64_t bytes_fetched = 0;

  // Release placement: the release being deployed and the one it replaces.
  std::string release_id, release_dir, previous_dir;
  std::string previous_id;  // set once current was switched to release_id
  bool switched = false;

  // How far dest got, for the one line a failed or aborted deploy ends with.
  enum class DestState { untouched, changing, placed, rolled_back } dest_state = DestState::untouched;

  // Rollout gate.
  bool holds_rollout_slot = false;
  bool halted = false;  // the release's rollout is halted: skipped

  // For the hooks' environment.
  uint64_t started_at_ms = 0, finished_at_ms = 0;

  FetchPolicy fetch_policy() const { return fetch_policy_for(options); }
  // The manifest's release id (what publish named it and pointers compare),
  // else the release folder's name; "" when neither exists.
  std::string release_name() const { return !manifest.release.empty() ? manifest.release : release_id; }
};

}  // namespace haul
