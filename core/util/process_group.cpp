#include "util/process_group.hpp"

#include <dirent.h>
#include <signal.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

namespace haul {
namespace {

std::string boot_id() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id;
}

struct ProcStat {
  pid_t pid = 0;
  pid_t pgrp = 0;
  uint64_t start_ticks = 0;
};

// Parses /proc/PID/stat; the command name (field 2) may hold spaces and
// parentheses, so fields are counted from the last ')'.
std::optional<ProcStat> read_stat(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(line.substr(close + 1));
  std::string field;
  ProcStat st;
  st.pid = pid;
  // Field 3 is the state; pgrp is field 5, starttime field 22.
  for (int n = 3; n <= 22 && rest >> field; ++n) {
    if (n == 5) st.pgrp = static_cast<pid_t>(std::strtol(field.c_str(), nullptr, 10));
    if (n == 22) st.start_ticks = std::strtoull(field.c_str(), nullptr, 10);
  }
  return st;
}

// The live members of the group that are provably the recorded one.
std::vector<pid_t> members(const ProcessGroupRecord& record) {
  std::vector<pid_t> out;
  if (record.pgid <= 1 || record.boot_id.empty() || record.boot_id != boot_id()) return out;
  const pid_t pgid = static_cast<pid_t>(record.pgid);
  // While the leader lives, it must be the same process; once it is gone,
  // the kernel keeps the pgid reserved as long as any member lives, and a
  // member cannot be older than the leader that made the group.
  if (auto leader = read_stat(pgid); leader && leader->start_ticks != record.start_ticks) return out;
  DIR* proc = opendir("/proc");
  if (!proc) return out;
  while (struct dirent* e = readdir(proc)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end) continue;
    auto st = read_stat(static_cast<pid_t>(pid));
    if (st && st->pgrp == pgid && st->start_ticks >= record.start_ticks) out.push_back(st->pid);
  }
  closedir(proc);
  return out;
}

}  // namespace

std::optional<ProcessGroupRecord> identify_process_group(pid_t pgid) {
  auto leader = read_stat(pgid);
  if (!leader) return std::nullopt;
  return ProcessGroupRecord{pgid, leader->start_ticks, boot_id()};
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
