// SPDX-License-Identifier: Apache-2.0
// `haul pack --chunked`: the tree as a release index (delta/release_index.hpp)
// plus its content-defined chunks, each compressed with zstd and stored once
// under <store>/chunks/<first two hex digits>/<sha256>.zst. A chunk the store
// already holds is not written again: packing the next release into the same
// store writes only what changed. The index is written to a temporary file
// and renamed into place; chunks likewise, so an interrupted pack leaves no
// half chunk under a name a reader would trust.
#pragma once

#include <cstdint>
#include <filesystem>

#include "publish/packer.hpp"

namespace haul {

struct ChunkedPackResult {
  PackResult tree;                // entries and bytes; bytes_out and sha256 are the index's
  uint64_t chunks = 0;            // distinct chunks of the release
  uint64_t chunk_bytes = 0;       // their uncompressed size
  uint64_t new_chunks = 0;        // written to the store by this pack
  uint64_t new_chunk_bytes = 0;   // their compressed size
};

// o.output is the index file; o.format and o.level are not used (chunks are
// zstd at chunk_level).
ChunkedPackResult pack_chunked(const PackOptions& o, const std::filesystem::path& store, int chunk_level = 3);

}  // namespace haul
