// SPDX-License-Identifier: Apache-2.0
// One deploy, start to finish, in stretcher's observable order:
//   manifest fetch + parse → src fetch, hash and extract in one pass into a
//   private staging folder on dest's filesystem → checksum verified → pre →
//   dest_mode → place (rsync-style sync | mv) → post → success | failure.
// Until placement starts, dest is not touched: any failure before it leaves
// dest exactly as it was, and the staging folder is always removed.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "config/pipeline_config.hpp"
#include "transfer/fetcher.hpp"
#include "plugin/instance.hpp"
#include "util/stop_signal.hpp"

namespace haul {

struct DeployRequest {
  std::string manifest_url;
  std::string event_id;
  uint64_t event_ltime = 0;
  // From a desired-release pointer: the manifest must have exactly these bytes.
  std::string expected_manifest_sha256;
  // A manifest with these bytes is already running: fetch it, and if it is
  // that one, deploy nothing (after an event-history reset).
  std::string unless_manifest_sha256;
  // The pipeline remembers no event yet (a first start, a new state_dir, a
  // switch from the consul watch handler to the agent): an event is taken
  // for a replay, and deploys nothing, when dest already runs exactly its
  // manifest or was rolled back from its release by an operator.
  bool unless_dest_runs_it = false;
  // haul plan / deploy --dry-run: fetch and verify, work out what the deploy
  // would do (DeployResult::plan), touch nothing, run no command.
  bool dry_run = false;
};

struct DeployResult {
  bool ok = false;
  std::string error;
  std::string log;
  std::string manifest_sha256;  // of the manifest bytes as fetched; empty if never fetched
  std::string release;          // the manifest's release id, else the release folder's, else the manifest URL
  uint64_t bytes_fetched = 0;   // artifact bytes downloaded
  std::chrono::milliseconds duration{0};
  uint64_t started_at_unix_ms = 0, finished_at_unix_ms = 0;
  // Failed because haul was stopping or aborting: not an outcome of the
  // release itself, so never recorded as applied (it is deployed again
  // after a restart).
  bool interrupted = false;
  // The manifest was unless_manifest_sha256: nothing was done (ok is true).
  bool skipped = false;
  std::string plan;  // dry_run: what the deploy would do, for a person to read
  // Rollout: skipped because the release's rollout is halted fleet-wide.
  bool halted = false;
  std::string rollout_release;  // the rollout's name; "" without a gate
  // sync_strategy release, when current was switched to the new release:
  // what a halted rollout rolls back (current -> previous_release_id).
  std::string dest, release_id, previous_release_id;
};

// Who deploys: the config file the pipeline comes from (recorded beside
// dest, so `haul rollback DEST` runs that pipeline's hooks) and the other
// pipelines of that file, whose dests this one must not deploy to.
struct DestOwner {
  std::string config;  // a file path; "" for the built-in default
  std::vector<std::string> siblings;
};

// A pipeline's rollout gate and rules (gate null: no rollout).
struct RolloutGate {
  GateInstance* gate = nullptr;
  haul_rollout_policy policy{};
};

uint64_t unix_ms_now();

// The fetch policy a pipeline's deploy options (stretcher's flags) describe.
FetchPolicy fetch_policy_for(const DeployOptions& options);

class DeployEngine {
 public:
  DeployEngine(std::string pipeline, const SourceSet& sources, std::vector<HookInstance*> hooks,
               DeployOptions options, RolloutGate rollout = {}, DestOwner owner = {});
  // abort: stop now, safely (a second SIGTERM; a deploy timeout). stopping:
  // haul was asked to stop (the first SIGTERM): a deploy that has not
  // touched anything yet (random delay, waiting for dest's lock) gives up,
  // one that has finishes, hooks and all.
  DeployResult run(const DeployRequest& request, StopSignal& abort, StopSignal* stopping = nullptr);

 private:
  std::string pipeline_;
  const SourceSet& sources_;
  std::vector<HookInstance*> hooks_;
  DeployOptions options_;
  RolloutGate rollout_;
  DestOwner owner_;
};

}  // namespace haul
