// SPDX-License-Identifier: Apache-2.0
// The subcommands of the haul binary. Each returns the process exit code.
#pragma once

#include <string>
#include <vector>

namespace haul {

using Args = std::vector<std::string>;

int run_handler(const Args& args);  // `haul` with stdin: consul watch / Serf / plain line
int run_deploy(const Args& args, bool dry_run = false);   // `haul deploy URL`, `haul plan URL`
int run_reconcile(const Args& args);  // `haul reconcile --config F`: the desired-release check, once
int run_agent_command(const Args& args);  // `haul agent --config F`
int run_check(const Args& args);          // `haul check F`: every mistake of a config, nothing started
// The check itself, for `haul check F` and `haul agent --check --config F`: 0, or 2 with every mistake.
int run_config_check(const std::string& path);
int run_plugins(const Args& args);  // `haul plugins list|describe NAME`
int run_status(const Args& args);  // `haul status`: the fleet, from Consul KV
int run_fetch(const Args& args);   // `haul fetch URL -o FILE`: one download through the source plugins
int run_releases(const Args& args);  // `haul releases DEST`
int run_rollback(const Args& args);  // `haul rollback DEST [--to ID]`
int run_rollout(const Args& args);   // `haul rollout status|halt|resume`: fleet-wide rollouts
int run_diff(const Args& args);      // `haul diff DEST`: drift since the last deploy
int run_pack(const Args& args);     // `haul pack DIR -o FILE`
int run_publish(const Args& args);  // `haul publish ARTIFACT --to PREFIX ...`
int run_kick(const Args& args);     // `haul kick URL --name EVENT`
int run_gc(const Args& args);       // `haul gc --store PREFIX --keep N`: prune a chunk store
int run_release(const Args& args);  // `haul release [STAGE]` from haul-release.yaml
int run_keygen(const Args& args);   // `haul keygen -o NAME`

}  // namespace haul
