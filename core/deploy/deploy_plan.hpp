// SPDX-License-Identifier: Apache-2.0
// What a deploy would do to dest, worked out from the artifact's stream
// without writing anything: `haul plan URL` and `haul deploy --dry-run`.
//
// Each archive entry is compared with what the target holds — dest for the
// rsync and mv strategies, the current release for `release`: new, changed
// (other size, mtime, type, link target or bytes: the same content check the
// deploy makes), or unchanged. Then the target is walked for what the
// release lacks: deleted, or kept because an exclude protects it (rsync).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "config/exclude_rules.hpp"
#include "extract/extractor.hpp"

namespace haul {

struct DeployPlan {
  std::vector<std::string> created, changed, deleted, kept_by_excludes;
  uint64_t unchanged = 0;
  uint64_t entries = 0;        // in the release
  uint64_t target_entries = 0; // in the target before the deploy
  std::string exclude_from_text;  // the archive's exclude_from file, if asked for
};

struct PlanOptions {
  std::vector<std::string> excludes;  // the manifest's (rsync only)
  std::string exclude_from;           // a path inside the archive (rsync only)
  bool apply_excludes = true;
};

// Reads the whole stream (so the caller can verify its checksum). origin
// names the archive in errors; target may be missing (everything is new).
DeployPlan plan_deploy(const ChunkReader& read, const std::filesystem::path& target, const std::string& origin,
                       const PlanOptions& options);

}  // namespace haul
