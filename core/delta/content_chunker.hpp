// SPDX-License-Identifier: Apache-2.0
// Content-defined chunk boundaries for delta releases: FastCDC's gear hash
// with normalised chunking (Xia et al., USENIX ATC 2016). A boundary depends
// only on the 64 bytes before it, so an edit moves the boundaries near it and
// no others: the chunks of an unchanged region keep their names from one
// release to the next. Each file is chunked on its own — a small file is one
// chunk — so a change in one file never disturbs another's chunks.
//
// The gear table and the masks define every chunk name a store holds: they
// are part of the index format (version 1) and must not change within it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace haul::delta {

struct ChunkSizes {
  uint32_t min = 16 << 10;   // no boundary before this
  uint32_t avg = 64 << 10;   // the target: harder to cut before it, easier after
  uint32_t max = 256 << 10;  // always a boundary here
};
inline constexpr ChunkSizes kChunkSizes{};

// The length of the chunk that starts at data (n bytes left): where the gear
// hash says, between sizes.min and sizes.max; n when n <= sizes.min.
size_t chunk_length(const uint8_t* data, size_t n, const ChunkSizes& sizes = kChunkSizes);

}  // namespace haul::delta
