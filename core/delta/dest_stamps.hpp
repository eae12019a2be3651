// SPDX-License-Identifier: Apache-2.0
// What a chunked deploy to an rsync dest knows of dest's files once it is
// done, so that the next chunked deploy need not read them again: for each
// file, the release index's chunk list it holds and its content hash, beside
// a stamp of the inode. Kept beside dest (.haul-<name>.stamps).
//
// ctime is the guard, as in git's index: the kernel sets it to the current
// time on every write, truncate, chmod, chown, utimensat and rename, and no
// call sets it back. A file stamped and untouched since still holds the
// chunks the stamp names, and a release that lists the same chunks (and
// size, mtime and mode) for it keeps it unread. Anything else — no stamps, a
// torn stamps file, another inode, a newer ctime — is read and hashed.
//
// Only what the deploy verified is stamped, two ways:
// - A file dest kept: device, inode, size, mtime and ctime as stat saw it
//   before its bytes were found the same (or its stamp matched). A change
//   since then has moved its ctime, so the stamp never matches again.
// - A file the sync wrote: the deploy's window, from the first tick of the
//   coarse clock past its start to the first past the sync's last write
//   (past the fine clock's now: ctimes run ahead of the coarse clock on
//   multigrain filesystems, dest_stamps.cpp says how). Its ctime falls inside,
//   and any later change moves it past the window's end; a copy older than
//   the deploy (an excluded path's own) falls before it. No file needs a
//   stat after the sync: for W1 that was 20,000 path lookups, ~5 % of a
//   fresh deploy. The next deploy stats the file anyway to use the stamp.
// A process writing into dest while haul deploys, between the sync and the
// window's end, can still slip through; that is rsync's race too.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <ctime>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/content_hash.hpp"
#include "util/inode_stamp.hpp"

namespace haul {

struct FileStamp {
  std::string_view path;
  std::string_view chunks;   // hex digest of the file's chunk list (delta::chunk_list_digest)
  std::string_view content;  // its content hash, as the content record has it
  InodeStamp inode;          // kept: as stamped; written: the size and mtime second the sync gave it
  bool written = false;      // stamped by the deploy's window, not by its inode
};

class DestStamps {
 public:
  // The stamps beside dest. None when there are none, or the file is not one
  // whole stamps file (a torn write, another version): then every file is read.
  static DestStamps load(const std::filesystem::path& dest);
  static std::filesystem::path beside(const std::filesystem::path& dest);

  // The stamp of dest's copy of rel when that copy is still the file stamped
  // with these chunks (and the size and mtime second the release wants),
  // with the inode as stat sees it now; st filled; nothing otherwise. Any
  // thread. Symlinks on the way are followed here: the extractor checks the
  // inode again through dest's folders.
  std::optional<FileStamp> unchanged(const std::filesystem::path& dest, std::string_view rel,
                                     std::string_view chunks, uint64_t size, int64_t mtime_sec,
                                     struct stat& st) const;
  size_t size() const { return files_.size(); }
  // Why a stamps file beside dest was not used (torn, another version);
  // empty when it was, or when there is none.
  const std::string& unusable() const { return unusable_; }

 private:
  bool parse();  // text_ into files_ and the window; false when it is not one whole stamps file

  std::unique_ptr<std::string> text_;  // its own allocation, so the views survive a move
  std::vector<FileStamp> files_;        // sorted by path, viewing *text_
  struct timespec window_from_ {}, window_to_ {};  // the deploy's, for its written files
  std::string unusable_;
};

// Collects what a deploy would stamp, and stamps it once dest holds it.
class DestStampsWriter {
 public:
  // The extraction (or its retry) of a release with `files` files starts:
  // what was collected goes.
  void start(size_t files);
  // A stamp did not hold up: the rest of this deploy reads every file.
  void distrust() { trusted_ = false; }
  bool trusted() const { return trusted_; }
  // A file the release placed, with its chunk list's digest, content hash,
  // size and mtime second; kept_as: dest kept its copy, as stat saw it
  // before its content was found the same (or its stamp matched), else the
  // sync writes it. Any thread.
  void add(std::string_view rel, std::string chunks, std::string_view content, uint64_t size, int64_t mtime_sec,
           const InodeStamp* kept_as);

  // After the sync: closes the window and replaces the stamps file. Nothing
  // collected (a tarball deploy) leaves the stamps file alone. Throws
  // haul::Error naming the file when it cannot be written.
  void write(const std::filesystem::path& dest);

 private:
  struct Pending {
    std::string path, chunks;
    ContentDigest content{};
    bool kept = false;
    InodeStamp inode;  // kept: dest's copy before it was compared; written: its size and mtime second
  };
  bool started_ = false, trusted_ = true;
  struct timespec started_at_ {};
  std::mutex mu_;
  std::vector<Pending> files_;
};

}  // namespace haul
