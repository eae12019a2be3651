// SPDX-License-Identifier: Apache-2.0
// A pipeline wired from its config: the trigger, the sources (by URL scheme)
// and the hooks, each a plugin instance whose settings were validated against
// the plugin's declared fields. Building every pipeline before running any
// means a config error stops haul at start-up, not at the first event; and
// building starts nothing (a trigger watches from its first next()).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "release/applied_events.hpp"
#include "config/config_errors.hpp"
#include "config/pipeline_config.hpp"
#include "deploy/deploy_engine.hpp"
#include "transfer/fetcher.hpp"
#include "plugin/instance.hpp"
#include "plugin/registry.hpp"

namespace haul {

struct Pipeline {
  std::string name;
  std::unique_ptr<TriggerInstance> trigger;  // null for one-shot `haul deploy`
  SourceSet sources;
  std::vector<std::unique_ptr<HookInstance>> hooks;
  DeployOptions deploy;
  std::unique_ptr<AppliedEvents> applied;  // null: no state_dir, no dedup
  std::string desired;                      // desired-release pointer URL; "" = none
  std::chrono::milliseconds reconcile_interval{0};
  std::unique_ptr<GateInstance> gate;  // null: no rollout: block, every node deploys at once
  haul_rollout_policy rollout{};
  DestOwner owner;  // its config file (when it has one) and PipelineConfig::siblings

  std::vector<HookInstance*> hook_ptrs() const;

  // One deploy with this pipeline's sources, hooks and options. Its outcome
  // is recorded as applied (under the request's event id and ltime) unless
  // it was interrupted; a failure to record is logged, never the result.
  DeployResult run_deploy(const DeployRequest& request, StopSignal& abort, StopSignal* stopping) const;
};

// with_trigger=false builds everything but the trigger (for `haul deploy`;
// its name and settings are still checked). A non-empty state_dir turns on
// exactly-once dedup of events. Throws one Error naming every mistake.
std::unique_ptr<Pipeline> build_pipeline(const PipelineConfig& cfg, const PluginRegistry& registry,
                                         const std::string& origin, bool with_trigger = true,
                                         const std::string& state_dir = "");
// The same, every mistake (a plugin that does not exist, a wrong setting, a
// plugin refusing its settings) added to errors with its place in the file;
// null when there was one.
std::unique_ptr<Pipeline> build_pipeline(const PipelineConfig& cfg, const PluginRegistry& registry,
                                         const std::string& origin, ConfigErrors& errors, bool with_trigger = true,
                                         const std::string& state_dir = "");
// Checks every plugin cfg names and its settings, building none: what a
// build would refuse, short of a plugin's own refusal.
void check_pipeline(const PipelineConfig& cfg, const PluginRegistry& registry, const std::string& origin,
                    ConfigErrors& errors);

}  // namespace haul
