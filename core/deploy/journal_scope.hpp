// SPDX-License-Identifier: Apache-2.0
// One deploy's journal for the deploy's lifetime (see deploy_journal.hpp):
// it takes over from an interrupted predecessor — reports it and ends the
// hook commands it left running — then records each phase and the hook
// process groups running now, and removes the journal when the deploy ends,
// however it ends. Only a killed haul leaves a journal behind, which is what
// the journal is for. Construct it under the dest's lock.
#pragma once

#include <mutex>
#include <string>

#include "util/deploy_log.hpp"
#include "release/deploy_journal.hpp"

namespace haul {

class JournalScope {
 public:
  // Writes `entry` (its phase is the first step) after taking over.
  JournalScope(DeployJournal journal, JournalEntry entry, const std::string& dest, DeployLog& log);
  ~JournalScope();
  JournalScope(const JournalScope&) = delete;
  JournalScope& operator=(const JournalScope&) = delete;

  // The next step. Before dest is touched a failure to record it fails the
  // deploy; after (best_effort), it is only logged: a bookkeeping error on a
  // full disk must not undo a release that is already live.
  void phase(const std::string& name);
  // The release the deploy makes turned out to be another id.
  void release(const std::string& id);
  void phase_best_effort(const std::string& name);
  // For PhaseInfo::on_process: a hook's process group started or ended.
  void process(int64_t pgid, bool running);

 private:
  void write_locked();
  DeployJournal journal_;
  JournalEntry entry_;
  DeployLog& log_;
  std::mutex mu_;
};

}  // namespace haul
