// SPDX-License-Identifier: Apache-2.0
// Finding and ending a hook's process group after haul itself was killed.
//
// A hook command runs in a process group of its own. When haul dies with a
// command still running (kill -9, the OOM killer), nothing ends that group:
// it lives on, orphaned. So the deploy journal records each running group's
// identity — the pgid, when its leader started (in clock ticks since boot,
// /proc/PID/stat field 22) and the boot it started in — and the next deploy
// of the same dest ends the groups still recorded. The identity guards
// against pid reuse: after a reboot, or once the leader is gone and its pgid
// could belong to someone else, nothing that is not provably the recorded
// group is signalled.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace haul {

struct ProcessGroupRecord {
  int64_t pgid = 0;
  uint64_t start_ticks = 0;  // the leader's start time
  std::string boot_id;       // /proc/sys/kernel/random/boot_id
};

// The identity of a group that is running now; nullopt when pgid is gone.
std::optional<ProcessGroupRecord> identify_process_group(pid_t pgid);

// Ends what is left of a recorded group: SIGTERM, then SIGKILL after grace.
// Returns how many processes it found still running (0: nothing to end).
int end_process_group(const ProcessGroupRecord& record, std::chrono::milliseconds grace);

}  // namespace haul
