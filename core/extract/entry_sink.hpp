// SPDX-License-Identifier: Apache-2.0
// The extractor guards entries and places them; what is recorded of the
// result is its observers' business. Each is told of every entry as it
// lands in the tree — files dest kept included — with each file's content
// hash: the content record for `haul diff` (drift/tree_record_writer.hpp),
// dest's stamps for the next chunked deploy (delta/stamped_files.hpp).
#pragma once

#include <cstdint>
#include <ctime>
#include <string_view>

#include "util/inode_stamp.hpp"

namespace haul {

struct PlacedFile {
  std::string_view path;
  unsigned mode = 0;
  uint64_t size = 0;
  struct timespec mtime {};
  std::string_view hash;  // its content hash (util/content_hash.hpp)
  // dest kept its copy: that copy as stat saw it before its bytes were found
  // the same; nullptr when the file was written.
  const InodeStamp* kept_as = nullptr;
  // Kept without being read: its stamp vouched for it (extract/unread_files.hpp).
  bool unread = false;
};

class EntrySink {
 public:
  virtual ~EntrySink() = default;
  virtual void dir(std::string_view path, unsigned mode) = 0;
  virtual void file(const PlacedFile& file) = 0;
  virtual void symlink(std::string_view path, std::string_view target) = 0;
  virtual void hardlink(std::string_view path, std::string_view to) = 0;
  // The extraction starts over (the fetch is retried): what it was told goes.
  virtual void restart() = 0;
};

}  // namespace haul
