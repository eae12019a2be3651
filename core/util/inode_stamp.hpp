// SPDX-License-Identifier: Apache-2.0
// An inode as stat saw it: enough to tell, later, that nothing has touched
// it since — the kernel moves ctime on every write, truncate, chmod, chown,
// utimensat and rename, and no call sets it back (git's index relies on the
// same). Used for dest's stamps (delta/dest_stamps.hpp).
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <ctime>

namespace haul {

struct InodeStamp {
  uint64_t dev = 0, ino = 0, size = 0;
  struct timespec mtime {}, ctime {};

  static InodeStamp of(const struct stat& st) {
    return {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino), static_cast<uint64_t>(st.st_size),
            st.st_mtim, st.st_ctim};
  }
  bool operator==(const InodeStamp& o) const {
    return dev == o.dev && ino == o.ino && size == o.size && same(mtime, o.mtime) && same(ctime, o.ctime);
  }
  static bool same(const struct timespec& a, const struct timespec& b) {
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
  }
};

}  // namespace haul
