// SPDX-License-Identifier: Apache-2.0
// What a deploy placed in dest, entry by entry, as `haul diff` reads it:
// every folder, symlink and file with its mode, and for files the size,
// mtime and content hash (util/content_hash.hpp). The deploy streams it
// (drift/tree_record_writer.hpp) in archive order beside dest
// (.haul-<name>.tree; for the release strategy, one per release in
// DEST/.haul/releases/); reading it resolves what archive order leaves open
// — later entries replace earlier ones, hard links, folders made implicitly
// — and drops what the exclude rules keep out of dest.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <ctime>
#include <unordered_map>
#include <vector>

namespace haul {

class ExcludeRules;

struct TreeEntry {
  enum Kind : char { kDir = 'd', kFile = 'f', kSymlink = 'l' };
  static constexpr unsigned kAnyMode = ~0u;  // an implicit parent folder: mode not recorded

  Kind kind = kFile;
  std::string path;  // relative, '/'-separated
  unsigned mode = kAnyMode;
  uint64_t size = 0;
  int64_t mtime_sec = 0;
  long mtime_nsec = 0;
  std::string hash;    // files
  std::string target;  // symlinks
};

// The folder part of a record path: "a/b" for "a/b/c", "" at the top.
inline std::string_view record_parent(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? std::string_view() : path.substr(0, slash);
}

class TreeRecord {
 public:
  std::string release, manifest_url;
  std::vector<std::string> rules;   // exclude rule lines (ExcludeRules::add_line)
  std::vector<std::string> linked;  // shared paths linked into a release

  // In archive order; a later entry replaces an earlier one with the same path.
  void add_dir(std::string_view path, unsigned mode);
  void add_file(std::string_view path, unsigned mode, uint64_t size, const struct timespec& mtime, std::string hash);
  void add_symlink(std::string_view path, std::string target);
  // A hard link is the entry it links to, under a second name.
  void add_hardlink(std::string_view path, std::string_view to);

  // Once every entry is in: sorted by path, duplicates resolved, implicit
  // parent folders added, entries under a replaced folder dropped.
  void finish();
  // Entries the sync does not copy (they or a parent excluded) go.
  void drop_excluded(const ExcludeRules& rules);
  ExcludeRules exclude_rules() const;

  const std::vector<TreeEntry>& entries() const { return entries_; }
  // nullptr when path is not recorded; after finish().
  const TreeEntry* find(std::string_view path) const;

  // The record as written, finished and without excluded entries. origin
  // names the file in errors.
  static TreeRecord parse(const std::string& text, const std::string& origin);
  static TreeRecord load(const std::filesystem::path& file);  // throws naming the file

  // Where an rsync/mv dest's record lives: beside it, next to its lock.
  static std::filesystem::path beside(const std::filesystem::path& dest);

 private:
  void push(TreeEntry e);
  std::vector<TreeEntry> entries_;
  std::unordered_map<std::string, size_t> by_path_;  // latest entry per path, for hard links; until finish()
};

}  // namespace haul
