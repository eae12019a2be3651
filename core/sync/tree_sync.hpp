// SPDX-License-Identifier: Apache-2.0
// Placing a staged release into dest, the two ways stretcher knew:
//  - sync_tree: the semantics of `rsync -a --delete staging/ dest` without
//    rsync: contents, modes, mtimes, owners (as root), symlinks as symlinks;
//    what is absent from the release is deleted from dest; excluded paths are
//    neither copied nor deleted. Because staging sits on dest's filesystem,
//    a changed file is moved in with rename(2) — atomic per file, never a
//    copy — and an unchanged one (same size and mtime: rsync's quick check)
//    is left alone. The staging tree is consumed.
//  - move_tree: `mv staging dest`, for a dest that must not exist yet.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <sys/stat.h>
#include <string>

#include "config/exclude_rules.hpp"
#include "sync/kept_files.hpp"

namespace haul {

struct SyncStats {
  uint64_t written = 0;    // files and links moved into dest
  uint64_t unchanged = 0;  // skipped by the quick check
  uint64_t deleted = 0;    // removed from dest
  uint64_t protected_by_exclude = 0;
};

// Called for each change when verbose; (action, relative path).
using SyncReporter = std::function<void(const char* action, const std::string& path)>;

// kept: entries of the release the extractor did not write because dest
// holds them unchanged.
SyncStats sync_tree(const std::filesystem::path& from, const std::filesystem::path& to,
                    const ExcludeRules& rules, const SyncReporter& report = nullptr,
                    const KeptFiles* kept = nullptr);

void move_tree(const std::filesystem::path& from, const std::filesystem::path& to);

}  // namespace haul
