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
// - A file the sync wrote: the deploy's window, read off the filesystem's
//   own clock; its ctime falls inside, any later change's past the end, and
//   a copy older than the deploy (an excluded path's own) before the start.
//   No file needs a stat after the sync: for W1 that was 20,000 path
//   lookups, ~5 % of a fresh deploy. The next deploy stats the file anyway
//   to use the stamp.
//
// The window is not measured with the process's clocks: a ctime is the
// filesystem's, and only comparable with another ctime of the same
// filesystem. It is truncated to the filesystem's granularity (a second on
// ext4 with 128-byte inodes, two on FAT), it may be a server's (NFS), and
// on Linux >= 6.13 (multigrain: ext4, xfs, btrfs, tmpfs) it is the fine
// clock or a floor of past fine readings as often as the coarse tick — so
// it can fall on either side of a CLOCK_REALTIME(_COARSE) reading taken
// just before or after. Instead each edge touches a probe file beside dest
// (the filesystem that staging and the sync's renames are on; its device
// is recorded, and a file on another holds no written stamp) and reads the
// probe's ctime back. What makes that sound is the one property every
// filesystem clock has: a change made after another has returned never
// gets an older ctime, on any file of the filesystem (the coarse clock only
// moves forward; the multigrain floor keeps it so where a ctime is fine).
// Equal ctimes are the catch: many changes share one tick, so neither edge
// can be inclusive, and each edge waits for the clock to move instead:
// - start: S, the probe's ctime. Every change before the start has a ctime
//   <= S; start() then touches the probe until its ctime moves past S, so
//   every change of the deploy has one > S. A written file needs ctime > S.
// - end: after the sync's last write the probe's ctime is >= every write's;
//   touched until it moves past that, it gives E: the writes are < E, and
//   every change after the end has a ctime >= E. A written file needs
//   ctime < E.
// The wait costs two touches on a multigrain filesystem (the fstat between
// makes the kernel take the fine clock) and at most a coarse tick (1-10 ms)
// elsewhere. A clock that does not move within 50 ms (FAT's, or one of a
// second) is not waited for: S stays the start, E is the probe's last
// reading, both still exclusive — no stamp is wrong, only the files written
// in the edges' ticks are read again.
// The property fails only when the system clock is set back: a change
// after the deploy could then get a ctime inside its window (git's index
// has the same blind spot). A probe that sees the clock go back during the
// deploy empties the window; the next deploy's start probe catches a clock
// still behind the window's end (load's fs_now), and holds no written
// stamp then. A process writing into dest while haul deploys (in the
// window) can still slip through; that is rsync's race too.
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
#include <utility>
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
  // fs_now: the filesystem's clock now (DestStampsWriter::clock_at_start());
  // behind the window's end, the clock was set back since, and no written
  // stamp holds.
  static DestStamps load(const std::filesystem::path& dest, const struct timespec* fs_now = nullptr);
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
  // The deploy's, for its written files: a ctime strictly between, on this device.
  struct timespec window_from_ {}, window_to_ {};
  uint64_t window_dev_ = 0;
  bool clock_set_back_ = false;  // since the window: no written stamp holds
  std::string unusable_;
};

// Collects what a deploy would stamp, and stamps it once dest holds it.
class DestStampsWriter {
 public:
  explicit DestStampsWriter(std::filesystem::path dest) : dest_(std::move(dest)) {}
  DestStampsWriter(const DestStampsWriter&) = delete;
  DestStampsWriter& operator=(const DestStampsWriter&) = delete;
  ~DestStampsWriter();

  // The extraction (or its retry) of a release with `files` files starts:
  // what was collected goes, and the window opens (returns once the
  // filesystem's clock has moved past its start: a tick at most).
  void start(size_t files);
  // The window's start on the filesystem's clock; null when no probe could
  // be made beside dest (write() then says why).
  const struct timespec* clock_at_start() const { return probe_fd_ >= 0 ? &started_at_ : nullptr; }
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
  // haul::Error naming the file when it (or the probe) cannot be written.
  void write();

 private:
  struct Pending {
    std::string path, chunks;
    ContentDigest content{};
    bool kept = false;
    InodeStamp inode;  // kept: dest's copy before it was compared; written: its size and mtime second
  };
  const std::filesystem::path dest_;
  bool started_ = false, trusted_ = true;
  // The probe beside dest whose ctime is the filesystem's clock: a file of
  // its own, unlinked at once, open from start() to write().
  int probe_fd_ = -1;
  std::string probe_error_;
  uint64_t probe_dev_ = 0;
  bool clock_went_back_ = false;  // seen by start(): the window is empty
  struct timespec started_at_ {};  // the probe's ctime at the start: the window's exclusive start
  std::mutex mu_;
  std::vector<Pending> files_;
};

}  // namespace haul
