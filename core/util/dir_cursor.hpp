// SPDX-License-Identifier: Apache-2.0
// Open descriptors for the folders on the way to the current entry, so the
// entries of a sorted archive are reached with one-component *at() calls
// instead of the kernel walking every entry's full path again. Moving to the
// next entry's folder keeps the common prefix open and opens only what is
// new. Every step is opened O_DIRECTORY | O_NOFOLLOW: a symlink on the way is
// never followed, whatever the tree holds.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace haul {

class DirCursor {
 public:
  // create_missing: folders on the way that do not exist are made (mode 0755
  // less the umask, as tar makes the parents an archive does not list);
  // otherwise at() reports them absent.
  DirCursor(const std::filesystem::path& root, bool create_missing);
  ~DirCursor();
  DirCursor(const DirCursor&) = delete;
  DirCursor& operator=(const DirCursor&) = delete;

  // A descriptor of root/rel_dir ("" is root itself), valid until the next
  // call. -1 when a folder on the way is missing or is not a folder (not
  // created); errno tells which. Throws only for create errors. Without
  // create_missing the tree is taken not to change: a missing folder is
  // remembered, and paths under it answer -1 with no syscall.
  int at(std::string_view rel_dir);
  int root() const { return root_; }
  const std::filesystem::path& root_path() const { return root_path_; }

  // Splits "a/b/c" into {"a/b", "c"}.
  static std::pair<std::string_view, std::string_view> split(std::string_view rel);

 private:
  void pop_to(size_t depth);
  std::filesystem::path root_path_;
  bool create_missing_;
  int root_ = -1;
  std::vector<std::pair<std::string, int>> open_;  // component, its descriptor
  std::string missing_;  // the last folder found missing (lookup mode)
  int missing_errno_ = 0;
};

}  // namespace haul
