// SPDX-License-Identifier: Apache-2.0
// Fetching the chunks a deploy lacks from the chunk store: a batch at a
// time (one segment of the chunk feed), each chunk checked against its name.
//
// A chunk is loose in the store (chunks/<xx>/<sha256>.zst) and, when the
// publish that added it packed it, also in a pack (delta/pack_map.hpp).
// Once a batch lacks several chunks — a new server, a tree haul did not
// deploy — the index's pack map is fetched (once), and neighbouring chunks of a
// pack go as one range request: a few hundred requests for a new server
// instead of one per chunk. A pack range that fails (missing, short,
// a chunk that does not hash to its name) costs a warning and is not used
// again: its chunks are fetched loose, so a damaged pack never fails a deploy
// the loose chunks can still make.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "delta/pack_map.hpp"
#include "delta/release_index.hpp"
#include "transfer/fetcher.hpp"

namespace haul {

class StoreChunks {
 public:
  // index_url: where the index was fetched (its pack map is index_url +
  // ".packs"); payload: the index's decoded bytes. policy's bandwidth cap
  // paces the chunks of all workers together.
  StoreChunks(const delta::ReleaseIndex& index, const std::string& index_url, const std::string& payload,
              const std::string& store_url, const SourceSet& sources, size_t workers, FetchPolicy policy,
              StopSignal& abort, DeployLog& log);
  ~StoreChunks();

  // The chunks' verified bytes, in order. Any worker thread (0..workers-1).
  std::vector<std::string> fetch(size_t worker, const std::vector<const delta::Chunk*>& chunks, StopSignal& stop);

  uint64_t bytes_transferred() const { return transferred_; }
  size_t requests() const { return requests_; }
  size_t packed_chunks() const { return packed_chunks_; }

 private:
  struct Range;
  const SourceSet& sources_of(size_t worker);
  const delta::PackMap* pack_map(size_t worker, StopSignal& stop);
  std::string fetch_loose(size_t worker, const delta::Chunk& chunk, StopSignal& stop);
  void fetch_range(size_t worker, const Range& range, const std::vector<const delta::Chunk*>& chunks,
                   std::vector<std::string>& out, StopSignal& stop);
  // Counts bytes transferred and, under a cap, waits until they are due; false when stopped.
  bool pace(uint64_t bytes, StopSignal& stop);

  const delta::ReleaseIndex& index_;
  const std::string index_url_, store_url_;
  const delta::ChunkName payload_digest_;
  const SourceSet& first_;
  FetchPolicy policy_;
  const uint64_t rate_;  // bytes/s over all workers, 0 = no cap
  StopSignal& abort_;
  DeployLog& log_;
  const std::chrono::steady_clock::time_point started_;

  std::mutex mu_;  // the fields below, and plugin create() (not reentrant)
  std::vector<std::unique_ptr<SourceSet>> twins_;
  bool map_tried_ = false;
  std::optional<delta::PackMap> map_;
  std::set<uint32_t> bad_packs_;

  std::atomic<uint64_t> transferred_{0};
  std::atomic<size_t> requests_{0}, packed_chunks_{0};
};

}  // namespace haul
