// SPDX-License-Identifier: Apache-2.0
// Compares an archive entry's bytes, block by block as they stream past,
// with the copy of the file dest already holds.
//
// Why: rsync's quick check (same size, same mtime second) is not enough. Two
// builds within one second, or `haul pack --mtime` pinned, give files whose
// size and mtime match and whose bytes differ; skipping them would leave
// dest stale. The bytes are in hand anyway while the entry streams by, so
// the check costs one read of dest's copy (usually from the page cache) and
// a memcmp, for the quick-check candidates only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace haul {

class DestFileCompare {
 public:
  // dir_fd/name (or AT_FDCWD/path): dest's copy, opened without following a symlink. A file
  // that cannot be opened simply differs.
  DestFileCompare(int dir_fd, const std::string& name);
  ~DestFileCompare();
  DestFileCompare(const DestFileCompare&) = delete;
  DestFileCompare& operator=(const DestFileCompare&) = delete;

  // The next block of the entry at offset. false once the content differs;
  // after that it stays false and matched() no longer grows.
  bool feed(const void* data, size_t len, int64_t offset);
  // Every byte fed so far equals dest's, and dest's copy has no more bytes
  // than `size`.
  bool same(uint64_t size);
  // How many leading bytes of the entry equal dest's copy.
  uint64_t matched() const { return matched_; }
  // Replays dest's copy of the matched bytes, so that a writer that starts
  // once the content differs gets the whole entry without a second read of
  // the archive. Throws on a read error.
  void replay_matched(const std::function<void(const void*, size_t, int64_t)>& write) const;

 private:
  int fd_ = -1;
  bool differs_ = false;
  uint64_t matched_ = 0;
  std::string name_;
  std::vector<char> buf_;
};

}  // namespace haul
