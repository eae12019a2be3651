// What a release deploy is doing right now, in DEST/.haul/journal.json,
// written before each step. If haul is killed, the next deploy (or
// `haul releases`) finds the journal, reports the interrupted deploy and the
// step it reached, and cleans up — crash safety that is checked, not assumed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace haul {

struct JournalEntry {
  std::string phase;  // fetch, pre, switch, post, verify, rollback
  std::string release, previous, event_id, manifest_url;
  int pid = 0;
  int64_t started_unix = 0;
};

class DeployJournal {
 public:
  explicit DeployJournal(const std::filesystem::path& dest) : path_(dest / ".haul" / "journal.json") {}
  std::optional<JournalEntry> read() const;
  void write(const JournalEntry& e) const;  // atomic, durable
  void clear() const;

 private:
  std::filesystem::path path_;
};

}  // namespace haul
