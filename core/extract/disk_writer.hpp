// SPDX-License-Identifier: Apache-2.0
// Writes the entries of an archive under a fresh folder: files, folders,
// symlinks and hard links, with their mode, times and (as root) owner.
//
// Why not libarchive's archive_write_disk: it clones every entry, queries
// the umask twice, walks the full path in every syscall and chowns, chmods
// and stats each file whatever it holds — about ten syscalls per file, most
// of a W1 deploy's time. Here a file is openat + write + futimens + close,
// relative to its open folder (DirCursor, which never follows a symlink);
// chmod and chown happen only when creation did not already give the wanted
// mode and owner. Folders get their mode and times at finish(), deepest
// first, once nothing more is written into them.
//
// Policy (which entries are allowed, path safety, limits) stays with the
// extractor; this class trusts the relative names it is given.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <ctime>
#include <deque>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "util/dir_cursor.hpp"
#include "util/path_arena.hpp"

namespace haul {

struct EntryAttrs {
  mode_t perm = 0644;  // permission bits incl. setuid/setgid/sticky
  uid_t uid = 0;
  gid_t gid = 0;
  struct timespec mtime {};
  struct timespec atime {};
};

class DiskWriter {
 public:
  // origin names the archive in errors.
  DiskWriter(const std::filesystem::path& root, std::string origin);
  ~DiskWriter();
  DiskWriter(const DiskWriter&) = delete;
  DiskWriter& operator=(const DiskWriter&) = delete;

  // Owner of an entry: its user/group names mapped through this machine's
  // accounts when they exist there (as tar does for root), else its ids.
  uid_t resolve_uid(const char* name, uid_t id);
  gid_t resolve_gid(const char* name, gid_t id);
  // Whether owners are applied at all (only root can give files away).
  bool applies_owner() const { return as_root_; }

  // A regular file: open_file, then write() its data blocks, then close_file.
  void open_file(const std::string& rel, const EntryAttrs& attrs);
  void write(const void* data, size_t len, int64_t offset);
  void close_file(uint64_t size);

  void make_dir(const std::string& rel, const EntryAttrs& attrs);
  void make_symlink(const std::string& rel, const std::string& target, const EntryAttrs& attrs);
  // A hard link to target_rel, an entry written before.
  void make_hardlink(const std::string& rel, const std::string& target_rel);
  // A hard link to a file outside the folder (dest's or the previous
  // release's copy of an unchanged file). false if linking is not possible
  // (another filesystem, the file went away): the caller writes it instead.
  bool link_from(const std::filesystem::path& from, const std::string& rel);

  // Applies the folders' modes and times. Call once, after the last entry.
  void finish();

 private:
  int parent_of(const std::string& rel, std::string& name);
  [[noreturn]] void fail(const std::string& rel, const std::string& what) const;
  void clear_for(int parent, const std::string& name, const std::string& rel);
  bool needs_owner(uid_t uid, gid_t gid) const;

  DirCursor cursor_;
  std::string origin_;
  bool as_root_;
  uid_t euid_;
  gid_t egid_;
  mode_t umask_;
  bool root_setgid_;  // new entries take the root folder's group, not egid
  std::map<std::string, uid_t, std::less<>> users_;  // account name → id, looked up once
  std::map<std::string, gid_t, std::less<>> groups_;
  struct OpenFile {
    int fd = -1;
    std::string rel;
    EntryAttrs attrs;
    int64_t pos = 0;
  } file_;
  // Folders waiting for their attributes, compact (a Rails tree has 24k):
  // paths in a PathArena; a later record for the same folder wins, and a
  // record older than the folder's removal (clear_for) is dropped.
  struct PendingDir {
    PathArena::Ref path;
    EntryAttrs attrs;
    mode_t created;  // mode mkdir gave it
  };
  std::string_view path_of(const PendingDir& d) const { return dir_paths_.get(d.path); }
  PathArena dir_paths_;
  std::deque<PendingDir> dirs_;
  std::map<std::string, size_t, std::less<>> removed_dirs_;  // path → dirs_.size() at removal
};

}  // namespace haul
