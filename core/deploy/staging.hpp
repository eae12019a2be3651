// SPDX-License-Identifier: Apache-2.0
// The staged release both placements share: a private folder on dest's
// filesystem (removed however the deploy ends, unless it became dest), the
// mode dest gets, the content record of what it holds, and the journal
// entry that names it.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "deploy/deploy_context.hpp"
#include "drift/tree_record_writer.hpp"
#include "release/deploy_journal.hpp"

namespace haul {

struct StagingFolder {
  std::filesystem::path path;  // cleared once the folder became dest or a release
  StagingFolder() = default;
  StagingFolder(const StagingFolder&) = delete;
  StagingFolder& operator=(const StagingFolder&) = delete;
  ~StagingFolder();
};

// The manifest's dest_mode on the staged release's top folder.
void apply_dest_mode(const DeployContext& ctx, const std::filesystem::path& staging);

// What the content record says about the deploy: its names, and what the
// exclude rules (exclude-file lines) and linked shared paths keep out of it.
TreeRecordMeta tree_record_meta(const DeployContext& ctx, const std::vector<std::string>& rule_lines);

// The journal's first entry for this deploy; previous: the release it replaces.
JournalEntry journal_entry(const DeployContext& ctx, const std::string& phase, const std::string& previous);

}  // namespace haul
