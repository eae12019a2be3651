// SPDX-License-Identifier: Apache-2.0
// Publishing a chunked release (`haul publish app.index`): the chunks go to
// the store's root, <prefix>/chunks/<xx>/<sha256>.zst, shared by every
// release published there; the index to <prefix>/<release>/, rewritten to
// say its chunks are one folder up. Only chunks the store does not hold are
// uploaded, and what it holds is known without listing it: the chunks of
// the releases the current manifests name (each index is fetched). A chunk
// uploaded twice is harmless — same name, same bytes.
//
// Order, as for tarballs: every chunk before the index, the index before
// any manifest — an agent never reads an index whose chunks are missing.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "transfer/fetcher.hpp"
#include "publish/publisher.hpp"

namespace haul {

// Whether the file's bytes are a release index (a zstd frame that starts
// "HAULIDX1", or "HAULIDXD" for a delta, which publishing then refuses).
bool is_release_index_file(const std::filesystem::path& path);

struct ChunkedPublish {
  std::filesystem::path index_file;  // the index as it is uploaded (its store rewritten)
  uint64_t chunks = 0, uploaded = 0, uploaded_bytes = 0;
};

// Uploads what the store at store_url lacks of the index at index_path
// (its chunks found where the index says, relative to its file), and
// writes the index to upload to index_url into scratch. held_from:
// manifests whose releases' chunks the store holds. The first of those
// releases is the base the index is published as a delta of
// (delta/index_delta.hpp), unless its chain is already 8 deep; an index_url
// that already makes the same index keeps its bytes.
//
// Every chunk is uploaded loose. When pack_min_chunks (> 0) or more of the
// index's chunks are in no pack the store holds (a first publish, or many
// small ones since the last pack), those the local store has also go into
// one new pack, and a pack map (delta/pack_map.hpp) goes beside the index
// whenever any of its chunks is packed.
ChunkedPublish upload_release_chunks(const std::filesystem::path& index_path, const std::string& store_url,
                                     const std::string& index_url, const std::vector<std::string>& held_from,
                                     const SourceSet& sources, const std::filesystem::path& scratch,
                                     const PublishLog& log, uint64_t pack_min_chunks = kDefaultPackMinChunks);

}  // namespace haul
