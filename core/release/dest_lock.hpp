// SPDX-License-Identifier: Apache-2.0
// One deploy at a time per dest: flock(2) on a lock file (DEST/.haul/lock for
// releases; beside dest for rsync and mv, where a file inside dest would be
// synced away). The kernel
// drops the lock when its holder dies, so a killed deploy never leaves a
// stale lock behind; a second deploy waits up to a bound and then fails with
// a message naming the holder.
#pragma once

#include <chrono>
#include <filesystem>

#include "util/pid_lock.hpp"
#include "util/stop_signal.hpp"

namespace haul {

class DestLock {
 public:
  // Throws haul::Error after `wait` (or when stop is raised).
  DestLock(const std::filesystem::path& lock_file, std::chrono::milliseconds wait, StopSignal& stop);

 private:
  PidLock lock_;
};

}  // namespace haul
