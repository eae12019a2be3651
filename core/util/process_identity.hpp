// SPDX-License-Identifier: Apache-2.0
// Which process this is, in a form that outlives it: its pid, when it
// started (clock ticks since boot, /proc/PID/stat field 22) and the boot it
// started in (/proc/sys/kernel/random/boot_id). A pid alone is reused; the
// three together name one process, so a record left by a killed process can
// be told from a live one — a hook's process group in the deploy journal, an
// agent's heartbeat in Consul. Linux only. A small library of its own
// (haul_sys), so plugins can use it without the engine.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

namespace haul {

struct ProcessIdentity {
  int64_t pid = 0;
  uint64_t start_ticks = 0;
  std::string boot_id;
};

// /proc/PID/stat's process group and start time; nullopt when pid is gone.
struct ProcStat {
  pid_t pid = 0;
  pid_t pgrp = 0;
  uint64_t start_ticks = 0;
};
std::optional<ProcStat> read_proc_stat(pid_t pid);

std::string current_boot_id();
ProcessIdentity this_process();

// True when the recorded process is provably not running: it started in
// this boot and its pid is gone or now belongs to a process started at
// another time. A record from another boot (or another host) is not
// provable either way here: false.
bool provably_gone(const ProcessIdentity& recorded);

}  // namespace haul
