// SPDX-License-Identifier: Apache-2.0
// The manifests `haul publish` writes: one per role and stage, commands from
// a hooks file in capistrano-stretcher's shape —
//   default:            # every role gets these phases ...
//     pre:  [...]
//     success: [...]
//   web:                # ... unless its own block names the phase
//     <<: *default      # (YAML merge keys work, as in stretcher.yml.erb)
//     post: [...]
// Phases: pre, post, success, failure, verify, rollback. A role without a
// block gets default's. Rendering is deterministic: the same inputs give the
// same bytes, so a manifest can be compared, signed and diffed.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/manifest.hpp"

namespace haul {

struct HooksFile {
  std::string origin;
  Commands defaults;
  std::map<std::string, Commands> roles;
  // default's commands with the role's phases laid over them.
  Commands for_role(const std::string& role) const;
};

HooksFile parse_hooks_file(const std::string& text, const std::string& origin);
HooksFile load_hooks_file(const std::string& path);

// Everything a rendered manifest holds.
struct ManifestSpec {
  std::string role, stage;  // for the header comment
  std::string src, checksum, dest;
  std::optional<unsigned> dest_mode;
  SyncStrategy sync_strategy = SyncStrategy::rsync;
  std::string release;
  int64_t created_at = 0;
  std::vector<std::string> excludes;
  std::string exclude_from;
  std::vector<std::string> linked_dirs, linked_files;
  int keep_releases = 0;
  Commands commands;
};

std::string render_manifest(const ManifestSpec& spec);

}  // namespace haul
