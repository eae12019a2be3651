// SPDX-License-Identifier: Apache-2.0
// What the rsync strategy's extraction found dest already holding (rsync's
// quick check: same size and mtime; folders with the same mode, mtime and
// owner) and so did not write to staging. The sync reads it to leave those
// entries alone and to delete everything else the release lacks.
//
// Compact because a Rails tree keeps 44k entries: every path once in a
// PathArena, an index sorted by path, with the release mtime — about 80
// bytes an entry where a map of paths to struct stat took 270. Full attributes are held only for
// the few kept files whose mode, owner or mtime nanoseconds dest must still
// be given.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <ctime>
#include <deque>
#include <map>
#include <string>
#include <string_view>

#include "util/path_arena.hpp"

namespace haul {

class KeptFiles {
 public:
  // rel is unchanged in dest; mtime is the release's (a folder's is set
  // again after the sync changed something inside it).
  void add(std::string_view rel, const struct timespec& mtime);
  // rel's content is unchanged in dest, but dest's copy needs these
  // attributes (mode, owner as root, mtime).
  void add_with_attributes(std::string_view rel, const struct stat& want);

  bool contains(std::string_view rel) const { return find(rel) != nullptr; }
  const struct timespec* mtime(std::string_view rel) const;
  const struct stat* attributes(std::string_view rel) const;
  size_t size() const { return items_.size(); }
  void clear();

 private:
  struct Item {
    PathArena::Ref path;
    struct timespec mtime;
  };
  std::string_view path_of(const Item& item) const { return paths_.get(item.path); }
  const Item* find(std::string_view rel) const;
  PathArena paths_;
  // Sorted up to sorted_; find() merges what was added since (archives list
  // entries mostly in order, so that is cheap). A deque grows without the
  // copy (and doubled peak) of a vector.
  mutable std::deque<Item> items_;
  mutable size_t sorted_ = 0;
  std::map<std::string, struct stat, std::less<>> attributes_;
};

}  // namespace haul
