// SPDX-License-Identifier: Apache-2.0
#include "extract/dest_quick_check.hpp"

#include <fcntl.h>

namespace haul {

bool DestQuickCheck::stat_in_dest(const std::string& rel, struct stat& st) {
  auto [folder, name] = DirCursor::split(rel);
  const int fd = dirs_.at(folder);
  return fd >= 0 && fstatat(fd, std::string(name).c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

bool DestQuickCheck::keeps_dir(const std::string& rel, const EntryAttrs& attrs) {
  struct stat have;
  if (!stat_in_dest(rel, have) || !S_ISDIR(have.st_mode) || (have.st_mode & 07777) != attrs.perm ||
      have.st_mtim.tv_sec != attrs.mtime.tv_sec || !same_owner(have, attrs))
    return false;
  // Its changed files get plain parents in staging; the sync goes by kept.
  kept_.add(rel, attrs.mtime);
  return true;
}

std::optional<struct stat> DestQuickCheck::same_stamp(const std::string& rel, uint64_t size, const EntryAttrs& attrs) {
  struct stat have;
  if (!stat_in_dest(rel, have) || !S_ISREG(have.st_mode) || static_cast<uint64_t>(have.st_size) != size ||
      have.st_mtim.tv_sec != attrs.mtime.tv_sec)
    return std::nullopt;
  return have;
}

std::unique_ptr<DestFileCompare> DestQuickCheck::compare(const std::string& rel) {
  auto [folder, name] = DirCursor::split(rel);
  return std::make_unique<DestFileCompare>(dirs_.at(folder), std::string(name));
}

void DestQuickCheck::keep_file(const std::string& rel, const struct stat& have, const EntryAttrs& attrs) {
  const bool same_attributes = (have.st_mode & 07777) == attrs.perm &&
                               have.st_mtim.tv_nsec == attrs.mtime.tv_nsec && same_owner(have, attrs);
  if (same_attributes) {
    kept_.add(rel, attrs.mtime);
    return;
  }
  struct stat want = have;
  want.st_mode = S_IFREG | attrs.perm;
  want.st_uid = attrs.uid;
  want.st_gid = attrs.gid;
  want.st_mtim = attrs.mtime;
  want.st_atim = attrs.atime;
  kept_.add_with_attributes(rel, want);
}

}  // namespace haul
