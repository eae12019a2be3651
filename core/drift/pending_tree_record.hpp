// The content record of an rsync or mv deploy, in two steps around the
// change to dest: write() puts it down durably under a second name before
// dest is touched (a full disk fails the deploy there, with dest as it
// was); commit() renames it over the record once dest holds the release —
// a rename needs no space. A deploy that fails in between leaves the old
// record, and `haul diff` then shows what the failed sync changed.
#pragma once

#include <filesystem>

#include "drift/tree_record.hpp"

namespace haul {

class PendingTreeRecord {
 public:
  explicit PendingTreeRecord(std::filesystem::path record);
  ~PendingTreeRecord();  // removes what was written and not committed
  PendingTreeRecord(const PendingTreeRecord&) = delete;
  PendingTreeRecord& operator=(const PendingTreeRecord&) = delete;

  void write(const TreeRecord& tree);  // throws haul::Error naming the file
  void commit();                       // throws haul::Error naming the file

 private:
  std::filesystem::path record_, pending_;
  bool written_ = false;
};

}  // namespace haul
