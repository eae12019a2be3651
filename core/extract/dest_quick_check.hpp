// SPDX-License-Identifier: Apache-2.0
// The rsync strategy's look at dest during extraction, so that only what
// changed is decompressed to disk: a folder dest holds with the entry's
// mode and mtime (and owner, as root) is not created in staging, and a file
// with the entry's size and mtime second (rsync's quick check) is compared
// byte for byte as it streams past (dest_file_compare.hpp) — the same bytes
// are not written either. Both are listed in the KeptFiles for the sync,
// with the attributes dest's copy still needs. dest's folders are never
// created and never followed; under a folder dest lacks, nothing is looked up.
#pragma once

#include <sys/stat.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "sync/dest_file_compare.hpp"
#include "util/dir_cursor.hpp"
#include "extract/disk_writer.hpp"
#include "sync/kept_files.hpp"

namespace haul {

class DestQuickCheck {
 public:
  // compare_owner: haul applies owners (runs as root), so they must match too.
  DestQuickCheck(const std::filesystem::path& dest, KeptFiles& kept, bool compare_owner)
      : dest_(dest), kept_(kept), dirs_(dest, /*create_missing=*/false), compare_owner_(compare_owner) {}

  // dest holds this folder as the entry wants it: kept, not created.
  bool keeps_dir(const std::string& rel, const EntryAttrs& attrs);
  // dest's file, when it has the entry's size and mtime second.
  std::optional<struct stat> same_stamp(const std::string& rel, uint64_t size, const EntryAttrs& attrs);
  // A comparison with dest's copy of rel.
  std::unique_ptr<DestFileCompare> compare(const std::string& rel);
  // The content matched: dest's copy stays, given the attributes it lacks.
  void keep_file(const std::string& rel, const struct stat& have, const EntryAttrs& attrs);

  bool kept(const std::string& rel) const { return kept_.contains(rel); }
  const std::filesystem::path& dest() const { return dest_; }

 private:
  bool stat_in_dest(const std::string& rel, struct stat& st);
  bool same_owner(const struct stat& have, const EntryAttrs& attrs) const {
    return !compare_owner_ || (have.st_uid == attrs.uid && have.st_gid == attrs.gid);
  }

  const std::filesystem::path dest_;
  KeptFiles& kept_;
  DirCursor dirs_;
  const bool compare_owner_;
};

}  // namespace haul
