// SPDX-License-Identifier: Apache-2.0
// The bytes of a release's files in index order, gathered ahead of the
// reader by worker threads. Each chunk comes from a file this machine
// already holds when it can — the same path under one of the local roots
// (dest, the previous release), cut the same way and hashed — and is
// fetched from the chunk store otherwise. Nothing is used unverified: a
// local chunk is hashed before use, a fetched one by the fetch.
//
// Work goes in segments (runs of small files, or up to 8 MiB of a large
// one), at most `window_bytes` and `window_segments` ahead of the reader, so
// memory stays flat whatever the release's size. A small file's local copy
// is cut by content, so an insertion only costs the chunks it touched; a
// large file's copy is compared chunk by chunk at the same offsets.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "delta/release_index.hpp"
#include "util/inode_stamp.hpp"
#include "util/joining_thread.hpp"
#include "util/stop_signal.hpp"

namespace haul::delta {

// Fetches the chunks of one segment the machine does not hold (each once,
// in index order) and returns their verified bytes (decompress_chunk), in
// the same order: all at once, so neighbours in a pack can be one request.
// worker (0..workers-1) lets the caller give each thread its own
// connections; stop is raised when the feed is abandoned.
using ChunkFetch =
    std::function<std::vector<std::string>(size_t worker, const std::vector<const Chunk*>& chunks, StopSignal& stop)>;
// A ChunkFetch that fetches one chunk at a time.
ChunkFetch each_chunk(std::function<std::string(size_t worker, const Chunk& chunk, StopSignal& stop)> fetch);

struct FeedOptions {
  std::vector<std::filesystem::path> local_roots;
  size_t workers = 8;  // fetches in flight at most
  // Local copies read and hashed at once at most: more threads than cores
  // on that CPU-bound part only cost switches (0 = the machine's cores).
  size_t local_readers = 0;
  uint64_t window_bytes = 64ull << 20;
  // Segments claimed and not yet read, at most: two per worker keeps every
  // worker busy, and small files' bytes are read while still in the cache
  // (64 MiB of them ahead cost W1's fresh deploy a tenth of its time in
  // page faults and cache misses); large files' 8 MiB parts meet the byte
  // cap first.
  size_t window_segments = 16;
  // Asked, on a worker thread, of each file held in one part (up to 8 MiB)
  // before its bytes are looked for: true leaves the file out — no bytes
  // read or fetched, and one nullptr in next()'s stream where its chunks
  // would be. Must be safe to call from several threads at once.
  std::function<bool(size_t entry)> leave_out;
};

struct FeedStats {
  uint64_t local_chunks = 0, local_bytes = 0;
  uint64_t fetched_chunks = 0, fetched_bytes = 0;  // bytes: decompressed
};

class ChunkFeed {
 public:
  ChunkFeed(const ReleaseIndex& index, FeedOptions options, ChunkFetch fetch);
  ~ChunkFeed();  // stops the workers and waits for them
  ChunkFeed(const ChunkFeed&) = delete;
  ChunkFeed& operator=(const ChunkFeed&) = delete;

  // The next chunk of the next file entry, in index order; nullptr for a
  // file left out (FeedOptions::leave_out). Throws the
  // first error a worker met.
  std::shared_ptr<const std::string> next();
  FeedStats stats() const;
  // Stops the workers; next() then throws. Any thread.
  void cancel();
  // Whether file entry `entry`, whose first chunk was read through next(), was found
  // whole and byte for byte in the first local root (same path, same size,
  // every chunk hashed in place): that copy as fstat saw it before it was
  // read, else nullptr.
  const InodeStamp* same_as_first_root(size_t entry) const {
    return same_as_first_root_[entry] ? &first_root_inode_[entry] : nullptr;
  }

 private:
  // A file, or up to 8 MiB of a large one: the unit of local lookup.
  struct Part {
    size_t entry;
    size_t first, last;  // chunk positions in the entry, [first, last)
    uint64_t offset;     // of chunk `first` in the file
    uint64_t bytes;
  };
  // Consecutive parts handed to a worker at once: handing over each small
  // file between threads cost more than reading it.
  struct Segment {
    size_t first_part, last_part;
    uint64_t bytes;
  };
  using Pieces = std::vector<std::shared_ptr<const std::string>>;

  void work(size_t worker);
  // Whether the window has room for `next` beside what is claimed and unread (mu_ held).
  bool room_for(const Segment& next) const;
  Pieces gather(size_t worker, const Segment& segment);
  void find_locally(const Part& part, std::shared_ptr<const std::string>* out, size_t& in_place,
                    InodeStamp& first_root, FeedStats& stats) const;

  const ReleaseIndex& index_;
  const FeedOptions options_;
  const ChunkFetch fetch_;
  std::vector<Part> parts_;
  std::vector<Segment> segments_;
  // How many places not yet gathered use each chunk: a chunk several files
  // share is kept in shared_ once found and dropped after its last use.
  std::vector<uint32_t> uses_;
  // By entry; written by the worker before its segment is published, read
  // by whoever got the entry's bytes through next() (ordered by mu_).
  std::vector<char> same_as_first_root_;
  std::vector<InodeStamp> first_root_inode_;  // by entry, where same_as_first_root_

  mutable std::mutex mu_;
  std::condition_variable work_cv_;  // workers: room in the window, or stop
  std::condition_variable read_cv_;  // the reader: its segment is done, or an error
  size_t next_claim_ = 0;    // segments handed to workers
  size_t next_read_ = 0;     // the segment the reader is in
  Pieces reading_;           // the reader's segment, taken whole (the reader's own)
  size_t read_piece_ = 0;    // within it
  uint64_t ahead_bytes_ = 0;  // claimed and not yet read
  size_t taken_ = 0;         // segments the reader took from done_
  std::deque<std::optional<Pieces>> done_;  // segments from taken_ on
  std::vector<std::shared_ptr<const std::string>> shared_;  // by chunk, while in use
  std::exception_ptr error_;
  FeedStats stats_;
  StopSignal stop_;
  std::mutex cpu_mu_;
  std::condition_variable cpu_cv_;
  size_t cpu_free_;  // local readers that may start
  std::vector<JoiningThread> threads_;  // last: gone first, while what the workers use is still here
};

}  // namespace haul::delta
