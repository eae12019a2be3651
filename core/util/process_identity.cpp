// SPDX-License-Identifier: Apache-2.0
#include "util/process_identity.hpp"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace haul {

std::string current_boot_id() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id;
}

// The command name (field 2) may hold spaces and parentheses, so fields are
// counted from the last ')'.
std::optional<ProcStat> read_proc_stat(pid_t pid) {
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

ProcessIdentity this_process() {
  ProcessIdentity me;
  me.pid = getpid();
  if (auto st = read_proc_stat(getpid())) me.start_ticks = st->start_ticks;
  me.boot_id = current_boot_id();
  return me;
}

bool provably_gone(const ProcessIdentity& recorded) {
  if (recorded.pid <= 0 || recorded.boot_id.empty() || recorded.boot_id != current_boot_id()) return false;
  const auto now = read_proc_stat(static_cast<pid_t>(recorded.pid));
  return !now || now->start_ticks != recorded.start_ticks;
}

}  // namespace haul
