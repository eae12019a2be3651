// SPDX-License-Identifier: Apache-2.0
// What a deploy is doing right now, written before each step: for releases
// in DEST/.haul/journal.json, for rsync and mv beside dest in
// .haul-<name>.journal.json (a file inside dest would be synced away). If
// haul is killed, the next deploy of that dest (or `haul releases`) finds the
// journal, reports the interrupted deploy and the step it reached, ends the
// hook commands it left running, and cleans up — crash safety that is
// checked, not assumed. A deploy that ends, well or badly, removes it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "util/process_group.hpp"

namespace haul {

struct JournalEntry {
  std::string phase;  // fetch, pre, sync, switch, post, verify, rollback, pruning
  std::string release, previous, event_id, manifest_url;
  int pid = 0;
  int64_t started_unix = 0;
  std::vector<ProcessGroupRecord> hooks;  // hook commands running now
};

class DeployJournal {
 public:
  // The journal of a release dest.
  explicit DeployJournal(const std::filesystem::path& dest) : path_(dest / ".haul" / "journal.json") {}
  // The journal of an rsync or mv dest, beside it.
  static DeployJournal beside(const std::filesystem::path& dest);
  std::optional<JournalEntry> read() const;
  void write(const JournalEntry& e) const;  // atomic, durable
  void clear() const;
  const std::filesystem::path& path() const { return path_; }

 private:
  struct At {};
  DeployJournal(At, std::filesystem::path path) : path_(std::move(path)) {}
  std::filesystem::path path_;
};

}  // namespace haul
