// SPDX-License-Identifier: Apache-2.0
// `haul diff`'s comparison: a dest as it is now against the content record
// its last deploy wrote (drift/tree_record.hpp). Modified: content (by hash),
// type, mode, symlink target; added: what the record lacks; deleted: what
// dest lacks. Paths the rsync exclude rules match and shared paths linked
// into a release are the operator's, never drift.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "drift/tree_record.hpp"

namespace haul {

struct DriftItem {
  std::string path;  // folders end in '/'
  std::string what;  // modified: "content", "mode 0644 -> 0600"...; added/deleted: "" or "and N entries in it"
};

struct DriftReport {
  std::vector<DriftItem> modified, added, deleted;
  uint64_t compared = 0;  // recorded entries found in dest and compared
  uint64_t hashed_bytes = 0;
  bool drifted() const { return !modified.empty() || !added.empty() || !deleted.empty(); }
};

struct DriftOptions {
  // Trust a file whose size and mtime match the record (rsync's quick
  // check) instead of hashing it.
  bool quick = false;
};

// root: the folder the record describes (dest, or the current release's).
DriftReport check_drift(const std::filesystem::path& root, const TreeRecord& record, const DriftOptions& options = {});

}  // namespace haul
