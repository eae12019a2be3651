// SPDX-License-Identifier: Apache-2.0
// An exclusive flock(2) on a file that names its holder's pid: one deploy
// per dest (release/dest_lock), one agent per state_dir. The kernel drops
// the lock when its holder dies, so a killed process never leaves a stale
// lock; the pid is only for messages ("held by pid 4242").
#pragma once

#include <filesystem>
#include <string>

namespace haul {

class PidLock {
 public:
  // Opens (creates) the file and its folder; throws haul::Error naming it.
  explicit PidLock(std::filesystem::path path);
  ~PidLock();
  PidLock(const PidLock&) = delete;
  PidLock& operator=(const PidLock&) = delete;

  // Takes the lock if it is free and writes this process's pid into it.
  bool try_lock();
  // Who holds it, for a message: "pid 4242", "this process" (another
  // thread's lock on the same file), or "a process that has not written
  // its pid yet".
  std::string holder() const;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
};

}  // namespace haul
