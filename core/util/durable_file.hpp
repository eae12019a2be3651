// SPDX-License-Identifier: Apache-2.0
// Small files that must survive a crash whole (state, store entries): written
// to a temporary name of the writer's own beside the target, fsync'ed,
// renamed over it, and the folder fsync'ed, so a reader finds the old content
// or the new, never a torn one. Every
// error names the path and the errno text ("No space left on device"), so a
// full disk reads as one.
#pragma once

#include <filesystem>
#include <string>

namespace haul {

// Replaces path's content atomically and durably; creates missing parents.
// Throws haul::Error naming the path and the system's reason.
void write_file_durably(const std::filesystem::path& path, const std::string& content);

// The same without the fsyncs, for what a reader can tell torn (an end
// line) and do without: after a crash, path may hold a torn file.
void write_file_atomically(const std::filesystem::path& path, const std::string& content);

// fsync of a folder, so a rename or an unlink in it is on disk. Best effort.
void fsync_dir(const std::filesystem::path& dir);

// A fixed-size record updated in place, for state that must be writable when
// the disk is full: the file is created (and its block allocated) ahead of
// time, and set() overwrites the same bytes with pwrite + fdatasync — no new
// block, no new inode. The value is at most kSize - 1 bytes, padded with
// spaces. A sector write is atomic on the devices haul runs on, and kSize is
// far below one sector.
class InPlaceRecord {
 public:
  static constexpr size_t kSize = 32;
  explicit InPlaceRecord(std::filesystem::path path) : path_(std::move(path)) {}
  // Creates (or replaces) the file holding value, durably.
  void create(const std::string& value) const;
  // Overwrites the value in place. Throws haul::Error naming path and errno.
  void set(const std::string& value) const;
  // The value, trimmed; "" when the file is missing or unreadable.
  std::string get() const;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::string padded(const std::string& value) const;
  std::filesystem::path path_;
};

}  // namespace haul
