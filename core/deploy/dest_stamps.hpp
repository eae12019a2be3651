// What a chunked deploy to an rsync dest knows of dest's files once it is
// done, so that the next chunked deploy need not read them again: for each
// file, the release index's chunk list it holds and its content hash, beside
// the inode's stamp — device, inode, size, mtime and ctime — at that moment.
// Kept beside dest (.haul-<name>.stamps).
//
// ctime is the guard, as in git's index: the kernel sets it to the current
// time on every write, truncate, chmod, chown, utimensat and rename, and no
// call sets it back. A file whose whole stamp still matches has not been
// touched since it was stamped, so it still holds the chunks the stamp names
// and a release that lists the same chunks (and size, mtime and mode) for it
// keeps it unread. Anything else — no stamps, a torn stamps file, another
// inode, a newer ctime — is read and hashed as before.
//
// Only what the deploy verified is stamped. A file dest kept is stamped as
// stat saw it before its bytes were found the same (or its stamp matched):
// a change since then has moved its ctime, so the stamp simply never matches
// again. A file the sync wrote is stat'ed after the sync, and stamped only
// with a ctime from this deploy (an excluded path's own copy is older) and
// from before the stamping began, which waits for the clock to pass the
// sync's last write. A process writing into dest while haul deploys can
// still slip between the sync and that stat; that is rsync's race too.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <ctime>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "util/content_hash.hpp"
#include "util/inode_stamp.hpp"

namespace haul {

class DirCursor;

struct FileStamp {
  std::string_view path;
  std::string_view chunks;   // hex digest of the file's chunk list (delta::chunk_list_digest)
  std::string_view content;  // its content hash, as the content record has it
  InodeStamp inode;
};

class DestStamps {
 public:
  // The stamps beside dest. None when there are none, or the file is not one
  // whole stamps file (a torn write, another version): then every file is read.
  static DestStamps load(const std::filesystem::path& dest);
  static std::filesystem::path beside(const std::filesystem::path& dest);

  // dest's copy of rel when it is still the file stamped with these chunks
  // (and the size and mtime second the release wants), with st filled;
  // nullptr otherwise. dest: a cursor on dest, moved through files in path order.
  const FileStamp* unchanged(DirCursor& dest, std::string_view rel, std::string_view chunks, uint64_t size,
                             int64_t mtime_sec, struct stat& st) const;
  size_t size() const { return files_.size(); }

 private:
  std::string text_;
  std::vector<FileStamp> files_;  // sorted by path, viewing text_
};

// Collects what a deploy would stamp, and stamps it once dest holds it.
class DestStampsWriter {
 public:
  // The extraction (or its retry) of a release of `files` files starts:
  // what was collected goes.
  void start(size_t files);
  // A file of the release, with its chunk list's digest; in path order.
  void file(std::string rel, std::string chunks);
  // The content hash the extraction recorded for it, and when dest kept its
  // copy, that copy's stamp from before its content was found the same.
  void hashed(std::string_view rel, std::string_view content, const InodeStamp* kept_as);

  // After the sync: stamps the collected files dest now holds and replaces
  // the stamps file. Nothing collected (a tarball deploy) leaves the stamps
  // file alone. Throws haul::Error naming the file when it cannot be written.
  void write(const std::filesystem::path& dest) const;

 private:
  struct Pending {
    std::string path, chunks;
    ContentDigest content{};
    bool hashed = false, kept = false;
    InodeStamp inode;  // kept: dest's copy before it was compared
  };
  bool started_ = false;
  struct timespec started_at_ {};
  std::vector<Pending> files_;  // in path order
};

}  // namespace haul
