// SPDX-License-Identifier: Apache-2.0
// Calling the hooks of a pipeline at one phase of a deploy (or of a
// rollback): builds the C context the plugins see — the phase's commands,
// the HAUL_* environment for them, the deploy log, and callbacks that write
// into it — and turns the first hook failure into an Error naming the phase
// and the hook.
#pragma once

#include <haul/plugin.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "util/deploy_log.hpp"
#include "plugin/instance.hpp"
#include "util/stop_signal.hpp"

namespace haul {

struct PhaseInfo {
  haul_phase phase = HAUL_PHASE_PRE;
  std::vector<std::string> commands;
  std::string pipeline, event_id, manifest_url, dest;
  std::string release, release_dir, previous_release_dir;
  std::string error;
  std::string running_release;  // success, failure, rollback: see haul_hook_context
  uint64_t running_since_unix_ms = 0;
  uint64_t event_ltime = 0, started_at_unix_ms = 0, finished_at_unix_ms = 0;
  std::chrono::milliseconds command_timeout{0};
  // Told when a hook's command process group starts (true) and ends
  // (false), for the deploy journal. Must not throw.
  std::function<void(int64_t pgid, bool running)> on_process;
};

void run_hook_phase(const std::vector<HookInstance*>& hooks, const PhaseInfo& info, DeployLog& log,
                    StopSignal& stop);

// This host's name in statuses and rollouts: HAUL_NODE, else the hostname.
std::string host_name();

}  // namespace haul
