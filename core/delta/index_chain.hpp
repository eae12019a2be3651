// SPDX-License-Identifier: Apache-2.0
// Reads a release index however it was published: whole, or as a delta of
// an earlier index (delta/index_delta.hpp). A delta's base comes from the
// local cache when this machine deployed it, else it is fetched in turn,
// back to a whole index; each base is trusted only by the hash the delta
// above it names. Agents, haul publish and haul gc all read indexes so.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "util/deploy_log.hpp"
#include "transfer/fetcher.hpp"
#include "util/stop_signal.hpp"

namespace haul {

struct ResolvedIndex {
  std::string payload;             // the whole index, decompressed
  uint32_t depth = 0;              // deltas above the whole index; 0: published whole
  std::vector<std::string> bases;  // the URLs of the bases fetched, nearest first
  uint64_t bytes_fetched = 0;      // for those bases
};

class IndexChain {
 public:
  // cache_dir: where whole indexes this machine deployed are kept; empty = none.
  IndexChain(const SourceSet& sources, FetchPolicy policy, StopSignal& stop, DeployLog& log,
             std::filesystem::path cache_dir = {})
      : sources_(sources), policy_(std::move(policy)), stop_(stop), log_(log), cache_dir_(std::move(cache_dir)) {}

  // payload: the decompressed bytes fetched from url. Throws haul::Error
  // naming the URL at fault.
  ResolvedIndex resolve(std::string payload, const std::string& url, uint64_t max_bytes);
  // Fetches url, then resolves it.
  ResolvedIndex fetch(const std::string& url, uint64_t max_bytes);
  // Keeps a whole index in the cache for the next release's delta (the
  // newest few are kept). A cache that cannot be written is only logged.
  void remember(const std::string& payload);

 private:
  std::string fetch_payload(const std::string& url, uint64_t max_bytes, uint64_t& fetched);
  std::optional<std::string> cached(const std::string& name_hex, uint64_t size);

  const SourceSet& sources_;
  const FetchPolicy policy_;
  StopSignal& stop_;
  DeployLog& log_;
  const std::filesystem::path cache_dir_;
};

}  // namespace haul
