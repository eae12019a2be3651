// SPDX-License-Identifier: Apache-2.0
// The release layout of a dest (sync_strategy: release), capistrano's shape:
//   DEST/releases/<id>/    one folder per release, never modified once live
//   DEST/current           symlink to releases/<id>, switched atomically
//   DEST/shared/           what outlives releases (linked_dirs, linked_files)
//   DEST/.haul/            lock, journal, and one metadata file per release
// The switch writes a new symlink under a temporary name and rename(2)s it
// over `current`, so a reader of current sees the old release or the new one,
// never a missing or half-written one.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "util/durable_file.hpp"

namespace haul {

// What haul recorded about a regular file when it extracted it: enough to
// hard-link it into the next release when it has not changed.
struct FileRecord {
  uint64_t size = 0;
  unsigned mode = 0;
  int64_t mtime = 0;
  std::string sha256;
};

struct ReleaseMeta {
  std::string id;
  int64_t created_unix = 0;
  // "deploying", "success", "failure", "rolled-back", "interrupted", "pruning"
  // (partly deleted: never a rollback target), "unknown" (no record)
  std::string result;
  uint64_t size_bytes = 0;
  std::string manifest_url, event_id;
  std::string manifest;  // the manifest text, for `haul rollback`'s commands
  std::map<std::string, FileRecord> files;
};

class ReleaseStore {
 public:
  explicit ReleaseStore(std::filesystem::path dest);

  const std::filesystem::path& dest() const { return dest_; }
  std::filesystem::path releases_dir() const { return dest_ / "releases"; }
  std::filesystem::path release_dir(const std::string& id) const { return releases_dir() / id; }
  std::filesystem::path shared_dir() const { return dest_ / "shared"; }
  std::filesystem::path current_link() const { return dest_ / "current"; }
  // The release's content record (drift/tree_record.hpp), for `haul diff`.
  std::filesystem::path tree_path(const std::string& id) const { return dest_ / ".haul" / "releases" / (id + ".tree"); }

  // The id `current` points at, if any.
  std::optional<std::string> current_id() const;
  // Every release with its metadata, newest first.
  std::vector<ReleaseMeta> list() const;
  std::optional<ReleaseMeta> meta(const std::string& id) const;
  // Writes the metadata and creates the release's result record.
  void save_meta(const ReleaseMeta& m) const;
  // Updates the result in place: works on a full disk (no new block), so
  // what is recorded after the switch always matches current.
  void set_result(const std::string& id, const std::string& result) const;
  // Removes the records of a release that was never committed.
  void discard_meta(const std::string& id) const;

  // A fresh staging folder inside releases/ (same filesystem as the releases).
  std::filesystem::path new_staging(const std::string& id) const;
  // A unique id: `wanted` itself, or wanted-2, wanted-3... if it exists.
  std::string unique_id(const std::string& wanted) const;
  // Moves staging to releases/<id>.
  std::filesystem::path commit(const std::filesystem::path& staging, const std::string& id) const;
  // Links release paths to shared/, creating shared ones when missing.
  void link_shared(const std::string& id, const std::vector<std::string>& dirs,
                   const std::vector<std::string>& files) const;
  // Flushes the release's filesystem to disk (before it goes live).
  void flush(const std::string& id) const;
  // Points current at releases/<id>, atomically.
  void switch_to(const std::string& id) const;
  // The newest successful release older than current (from a list(), newest first).
  static std::optional<std::string> previous_good(const std::vector<ReleaseMeta>& newest_first,
                                                  const std::optional<std::string>& current);
  // Keeps the newest `keep` releases; never current nor the newest good one
  // before it; failed releases go first. Returns the ids removed.
  std::vector<std::string> prune(size_t keep) const;
  // Records every release still "deploying" as "interrupted", and returns
  // their ids. Only under the dest's lock, before the deploy holding it
  // records anything: then no deploy is running, so each of them was cut
  // short — whether or not the journal still names it (the deploy that
  // found the journal may have been killed in turn before it got here).
  std::vector<std::string> mark_interrupted() const;
  // Removes what an interrupted deploy left: staging folders, temporary
  // links, half-written content records, releases whose pruning was cut
  // short, and the records of a release that has no folder (its deploy was
  // killed before the commit, or its pruning after the folder went).
  std::vector<std::string> remove_leftovers() const;
  // Marks the release "pruning", then deletes its folder and records (a
  // kill half-way leaves it listed as pruning, finished by the next deploy).
  void remove_release(const std::string& id) const;

 private:
  std::filesystem::path meta_path(const std::string& id) const { return dest_ / ".haul" / "releases" / (id + ".json"); }
  InPlaceRecord result_record(const std::string& id) const {
    return InPlaceRecord(dest_ / ".haul" / "releases" / (id + ".result"));
  }
  // Sets the result record, or creates it when there is none (a deploy
  // killed between the metadata and the record).
  void record_result(const std::string& id, const std::string& result) const;
  std::filesystem::path dest_;
};

}  // namespace haul
