// SPDX-License-Identifier: Apache-2.0
#include "delta/file_chunks.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <algorithm>
#include <memory>

#include "delta/content_chunker.hpp"
#include "util/error.hpp"

namespace haul::delta {

void for_each_file_chunk(int fd, uint64_t size, const std::string& path,
                         const std::function<void(uint64_t, const uint8_t*, size_t)>& chunk) {
  constexpr size_t kWindow = 4 * kChunkSizes.max;
  // Not a vector: zeroing a buffer about to be read into cost as much as the read.
  const size_t capacity = static_cast<size_t>(std::min<uint64_t>(size, kWindow));
  std::unique_ptr<uint8_t[]> storage(new uint8_t[capacity]);
  uint8_t* const buf = storage.get();
  uint64_t file_at = 0;  // offset of buf[0]
  size_t have = 0, at = 0;
  while (file_at + at < size) {
    // Refill when less than a maximum chunk is buffered and more is to come.
    const uint64_t left_in_file = size - (file_at + at);
    if (have - at < kChunkSizes.max && file_at + have < size) {
      std::memmove(buf, buf + at, have - at);
      file_at += at;
      have -= at;
      at = 0;
      const size_t want = static_cast<size_t>(std::min<uint64_t>(capacity - have, size - (file_at + have)));
      size_t got = 0;
      while (got < want) {
        const ssize_t r = pread(fd, buf + have + got, want - got, static_cast<off_t>(file_at + have + got));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) throw Error("cannot read " + path + ": " + std::strerror(errno));
        if (r == 0) throw Error("cannot read " + path + ": it ended at byte " + std::to_string(file_at + have + got) +
                                " of " + std::to_string(size) + " (changed while read)");
        got += static_cast<size_t>(r);
      }
      have += got;
    }
    const size_t n = chunk_length(buf + at, static_cast<size_t>(std::min<uint64_t>(have - at, left_in_file)));
    chunk(file_at + at, buf + at, n);
    at += n;
  }
}

}  // namespace haul::delta
