// SPDX-License-Identifier: Apache-2.0
#include "deploy/journal_scope.hpp"

#include <algorithm>

namespace haul {

JournalScope::JournalScope(DeployJournal journal, JournalEntry entry, const std::string& dest, DeployLog& log)
    : journal_(std::move(journal)), entry_(std::move(entry)), log_(log) {
  if (const std::optional<JournalEntry> interrupted = journal_.read()) {
    const auto& j = *interrupted;
    log_.warn("the previous deploy to " + dest + (j.release.empty() ? "" : " (release " + j.release + ")") + " by pid " +
              std::to_string(j.pid) + " was interrupted during " + j.phase + "; cleaning up after it");
    for (const auto& h : j.hooks)
      if (int n = end_process_group(h, std::chrono::seconds(5)))
        log_.warn("ended " + std::to_string(n) + " process(es) of a hook command (process group " +
                  std::to_string(h.pgid) + ") that the interrupted deploy left running");
  }
  journal_.write(entry_);
}

JournalScope::~JournalScope() { journal_.clear(); }

void JournalScope::phase(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  entry_.phase = name;
  journal_.write(entry_);
}

void JournalScope::release(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  entry_.release = id;
  journal_.write(entry_);
}

void JournalScope::phase_best_effort(const std::string& name) {
  try {
    phase(name);
  } catch (const std::exception& e) {
    log_.warn(std::string("cannot record the deploy's step '") + name + "' (the deploy goes on): " + e.what());
  }
}

void JournalScope::process(int64_t pgid, bool running) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& hooks = entry_.hooks;
  if (running) {
    auto identity = identify_process_group(static_cast<pid_t>(pgid));
    if (!identity) return;  // already gone
    hooks.push_back(*identity);
  } else {
    hooks.erase(std::remove_if(hooks.begin(), hooks.end(), [&](const auto& h) { return h.pgid == pgid; }), hooks.end());
  }
  try {
    journal_.write(entry_);
  } catch (const std::exception& e) {
    log_.warn(std::string("cannot record a hook command's process group in the deploy journal: ") + e.what());
  }
}

}  // namespace haul
