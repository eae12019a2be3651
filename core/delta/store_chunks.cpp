// SPDX-License-Identifier: Apache-2.0
#include "delta/store_chunks.hpp"

#include <zstd.h>

#include <algorithm>

#include "delta/chunk_name.hpp"
#include "util/error.hpp"
#include "util/units.hpp"

namespace haul {
namespace {

// Fewer missing chunks than this in a batch: loose requests, no pack map
// (a server that holds the last release lacks one or two per batch).
constexpr size_t kPackBatch = 8;
// Bytes of unwanted chunks worth fetching to join two runs into one request.
constexpr uint64_t kMaxGap = 256 << 10;
constexpr uint64_t kMaxRange = 16 << 20;
constexpr uint64_t kMaxPackMap = 64 << 20;

}  // namespace

struct StoreChunks::Range {
  uint32_t pack;
  uint64_t offset, length;
  std::vector<size_t> members;  // positions in the batch, by offset
};

StoreChunks::StoreChunks(const delta::ReleaseIndex& index, const std::string& index_url, const std::string& payload,
                         const std::string& store_url, const SourceSet& sources, size_t workers, FetchPolicy policy,
                         StopSignal& abort, DeployLog& log)
    : index_(index), index_url_(index_url), store_url_(store_url),
      payload_digest_(delta::chunk_name_of(payload.data(), payload.size())), first_(sources), policy_(std::move(policy)),
      rate_(policy_.max_bandwidth_bytes_per_s), abort_(abort), log_(log), started_(std::chrono::steady_clock::now()),
      twins_(workers) {
  // --max-bandwidth caps the deploy, not each fetch: pace() does it for all.
  policy_.max_bandwidth_bytes_per_s = 0;
}

StoreChunks::~StoreChunks() = default;

const SourceSet& StoreChunks::sources_of(size_t worker) {
  if (worker == 0) return first_;
  std::lock_guard<std::mutex> lock(mu_);
  if (!twins_[worker]) twins_[worker] = std::make_unique<SourceSet>(first_.twin());
  return *twins_[worker];
}

bool StoreChunks::pace(uint64_t bytes, StopSignal& stop) {
  const uint64_t so_far = transferred_ += bytes;
  if (rate_ == 0) return true;
  const auto due = started_ + std::chrono::microseconds(static_cast<int64_t>(1e6 * static_cast<double>(so_far) / rate_));
  const auto now = std::chrono::steady_clock::now();
  return due <= now || stop.sleep_for(std::chrono::duration_cast<std::chrono::milliseconds>(due - now));
}

const delta::PackMap* StoreChunks::pack_map(size_t worker, StopSignal& stop) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (map_tried_) return map_ ? &*map_ : nullptr;
  }
  const SourceSet& sources = sources_of(worker);
  std::lock_guard<std::mutex> lock(mu_);  // the other workers wait for the map: it decides their requests
  if (map_tried_) return map_ ? &*map_ : nullptr;
  map_tried_ = true;
  const std::string url = index_url_ + ".packs";
  std::string bytes;
  try {
    FetchPolicy once = policy_;
    once.retry = 0;  // a map is optional: no map is not worth a retry's wait
    bytes = fetch_text(sources, url, once, stop, log_, kMaxPackMap);
  } catch (const Error& e) {
    if (stop.raised()) throw;
    log_.info("No pack map for " + index_url_ + " (" + e.what() + "): its chunks come one request each");
    return nullptr;
  }
  transferred_ += bytes.size();
  try {
    map_ = delta::decode_pack_map(bytes, url, index_, payload_digest_);
  } catch (const Error& e) {
    log_.warn(std::string(e.what()) + "; not used: the chunks come one request each");
    return nullptr;
  }
  size_t packed = 0;
  for (const auto& c : map_->chunks) packed += c.has_value();
  log_.info("Pack map " + url + ": " + count_of(packed, "chunk", "chunks") + " of " +
            std::to_string(index_.chunks.size()) + " in " + count_of(map_->packs.size(), "pack", "packs") + " (" +
            format_bytes(bytes.size()) + ")");
  return &*map_;
}

std::string StoreChunks::fetch_loose(size_t worker, const delta::Chunk& chunk, StopSignal& stop) {
  const std::string url = store_url_ + delta::chunk_key(chunk.name);
  const size_t bound = ZSTD_compressBound(chunk.size) + 64;
  std::string stored;
  bool too_big = false;  // the sink runs inside the plugin's C frames: it stops, it does not throw
  fetch_stream(sources_of(worker), url, policy_, stop, log_, [&](const void* data, size_t n) {
    too_big = stored.size() + n > bound;
    if (!too_big) stored.append(static_cast<const char*>(data), n);
    return !too_big;
  }, {}, [&] { stored.clear(); });
  if (too_big)
    throw Error("chunk " + url + ": more than the " + std::to_string(bound) + " bytes a stored " +
                    std::to_string(chunk.size) + "-byte chunk can take",
                Error::Kind::checksum_mismatch);
  ++requests_;
  if (stop.raised() || !pace(stored.size(), stop)) throw Error("stopped while fetching " + url);
  return delta::decompress_chunk(stored, chunk, url);
}

void StoreChunks::fetch_range(size_t worker, const Range& range, const std::vector<const delta::Chunk*>& chunks,
                              std::vector<std::string>& out, StopSignal& stop) {
  const std::string url = store_url_ + map_->packs[range.pack];
  // The worker's buffer, kept between ranges: a fresh one faulted in every page each time.
  thread_local std::string bytes;
  bytes.clear();
  bytes.reserve(range.length);
  fetch_stream(sources_of(worker), url, policy_, stop, log_, [&](const void* data, size_t n) {
    bytes.append(static_cast<const char*>(data), n);
    return pace(n, stop);  // a range is paced as it comes, not after: it can be 16 MiB
  }, ByteRange{range.offset, range.length}, [&] { bytes.clear(); });
  ++requests_;
  if (stop.raised()) throw Error("stopped while fetching " + url);
  if (bytes.size() != range.length)
    throw Error(url + ": bytes " + std::to_string(range.offset) + "-" + std::to_string(range.offset + range.length - 1) +
                " end after " + std::to_string(bytes.size()) + " bytes; the pack is shorter than its map says");
  for (size_t m : range.members) {
    const delta::PackedAt& at = *map_->chunks[static_cast<size_t>(chunks[m] - index_.chunks.data())];
    out[m] = delta::decompress_chunk(std::string_view(bytes).substr(at.offset - range.offset, at.stored), *chunks[m],
                                     url + " at byte " + std::to_string(at.offset));
  }
}

std::vector<std::string> StoreChunks::fetch(size_t worker, const std::vector<const delta::Chunk*>& chunks,
                                            StopSignal& stop) {
  std::vector<std::string> out(chunks.size());
  std::vector<char> done(chunks.size(), 0);
  const delta::PackMap* map = chunks.size() >= kPackBatch ? pack_map(worker, stop) : nullptr;
  if (map) {
    // The batch's packed chunks by pack and offset, cut into runs.
    std::vector<size_t> packed;
    std::set<uint32_t> bad;
    {
      std::lock_guard<std::mutex> lock(mu_);
      bad = bad_packs_;
    }
    auto at = [&](size_t m) -> const std::optional<delta::PackedAt>& {
      return map->chunks[static_cast<size_t>(chunks[m] - index_.chunks.data())];
    };
    for (size_t m = 0; m < chunks.size(); ++m)
      if (at(m) && !bad.count(at(m)->pack)) packed.push_back(m);
    std::sort(packed.begin(), packed.end(), [&](size_t a, size_t b) {
      return std::make_pair(at(a)->pack, at(a)->offset) < std::make_pair(at(b)->pack, at(b)->offset);
    });
    std::vector<Range> ranges;
    for (size_t m : packed) {
      const delta::PackedAt& p = *at(m);
      Range* last = ranges.empty() ? nullptr : &ranges.back();
      const uint64_t end = p.offset + p.stored;
      if (last && last->pack == p.pack && p.offset <= last->offset + last->length + kMaxGap &&
          std::max(end, last->offset + last->length) - last->offset <= kMaxRange) {
        last->length = std::max(end, last->offset + last->length) - last->offset;
      } else {
        ranges.push_back(Range{p.pack, p.offset, p.stored, {}});
      }
      ranges.back().members.push_back(m);
    }
    for (const Range& range : ranges) {
      try {
        fetch_range(worker, range, chunks, out, stop);
        for (size_t m : range.members) done[m] = 1;
        packed_chunks_ += range.members.size();
      } catch (const Error& e) {
        if (stop.raised() || abort_.raised()) throw;
        std::lock_guard<std::mutex> lock(mu_);
        if (bad_packs_.insert(range.pack).second)
          log_.warn(std::string(e.what()) + "; the chunks of " + map->packs[range.pack] + " come loose instead");
      }
    }
  }
  for (size_t m = 0; m < chunks.size(); ++m)
    if (!done[m]) out[m] = fetch_loose(worker, *chunks[m], stop);
  return out;
}

}  // namespace haul
