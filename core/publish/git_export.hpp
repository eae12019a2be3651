// SPDX-License-Identifier: Apache-2.0
// `haul pack --git REPO --ref REF`: the tree of one commit, as `git archive`
// exports it (tracked files only, export-ignore honoured), unpacked through
// the hardened extractor into a scratch folder the packer then packs. The
// commit id becomes REVISION, as capistrano writes it, and the commit time
// the default --mtime, so the same commit always packs to the same bytes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace haul {

struct GitExport {
  std::string commit;        // full hex id
  int64_t commit_time = 0;   // committer time, unix seconds
};

// Exports REF of the repository at repo (a path or anything `git -C` takes)
// into dir, which must exist and be empty.
GitExport export_git_tree(const std::string& repo, const std::string& ref, const std::filesystem::path& dir);

}  // namespace haul
