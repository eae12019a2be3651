// SPDX-License-Identifier: Apache-2.0
// `haul gc`: prunes a chunk store of what no kept release needs. A store
// (the --to of haul publish) holds <release>/<name>.index and the shared
// chunks/<xx>/<sha256>.zst. Kept: the newest `keep` releases by upload time,
// and every release a manifest there names (a rollback published as the
// current release stays whole whatever its age). Removed: the indexes of the
// other releases first — no agent starts on a release whose chunks are
// going — then every chunk no kept release's index names and older than min_age: a
// publish in progress uploads its chunks before its index, and they must
// survive until the index that names them is there. An index a kept release's index
// is a delta of (delta/index_delta.hpp) stays, but not for its chunks' sake.
//
// Packs (delta/pack_map.hpp) go like chunks: kept while a kept release's
// pack map names them, else removed once older than min_age; a removed
// release's pack map goes with its index.
//
// Any kept release's index that cannot be read stops the collection before anything
// is removed: a chunk is only removed when every kept release's index was read.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "transfer/fetcher.hpp"
#include "publish/publisher.hpp"

namespace haul {

struct GcRequest {
  std::string store;      // s3://bucket/app, file:///srv/releases/app
  std::string manifests;  // where manifests are (default: store)
  int keep = 0;           // at least 1
  std::chrono::seconds min_age{3600};
  bool dry_run = false;
};

struct GcResult {
  std::vector<std::string> kept, removed;  // release ids
  std::vector<std::string> bases;          // not kept, but a kept release's index is a delta of theirs: index only
  uint64_t chunks = 0;                     // in the store before
  uint64_t chunks_removed = 0, bytes_removed = 0;
  uint64_t chunks_too_young = 0;           // unneeded, but younger than min_age
  uint64_t packs_removed = 0, packs_too_young = 0;  // packs/<sha256>.pack (their bytes in bytes_removed)
};

GcResult collect_chunk_store(const GcRequest& request, const SourceSet& sources, const PublishLog& log);

}  // namespace haul
