// SPDX-License-Identifier: Apache-2.0
#include "util/process_group.hpp"

#include "util/process_identity.hpp"

#include <dirent.h>
#include <signal.h>

#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace haul {
namespace {

// The live members of the group that are provably the recorded one.
std::vector<pid_t> members(const ProcessGroupRecord& record) {
  std::vector<pid_t> out;
  if (record.pgid <= 1 || record.boot_id.empty() || record.boot_id != current_boot_id()) return out;
  const pid_t pgid = static_cast<pid_t>(record.pgid);
  // While the leader lives, it must be the same process; once it is gone,
  // the kernel keeps the pgid reserved as long as any member lives, and a
  // member cannot be older than the leader that made the group.
  if (auto leader = read_proc_stat(pgid); leader && leader->start_ticks != record.start_ticks) return out;
  DIR* proc = opendir("/proc");
  if (!proc) return out;
  while (struct dirent* e = readdir(proc)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end) continue;
    auto st = read_proc_stat(static_cast<pid_t>(pid));
    if (st && st->pgrp == pgid && st->start_ticks >= record.start_ticks) out.push_back(st->pid);
  }
  closedir(proc);
  return out;
}

}  // namespace

std::optional<ProcessGroupRecord> identify_process_group(pid_t pgid) {
  auto leader = read_proc_stat(pgid);
  if (!leader) return std::nullopt;
  return ProcessGroupRecord{pgid, leader->start_ticks, current_boot_id()};
}

int end_process_group(const ProcessGroupRecord& record, std::chrono::milliseconds grace) {
  const auto found = members(record);
  if (found.empty()) return 0;
  for (pid_t pid : found) kill(pid, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (!members(record).empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  for (pid_t pid : members(record)) kill(pid, SIGKILL);
  return static_cast<int>(found.size());
}

}  // namespace haul
