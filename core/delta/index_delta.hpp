// SPDX-License-Identifier: Apache-2.0
// A release index published as a delta of the one before it. Consecutive
// releases share almost all of their index (a 1 %-changed W1 release
// changes 200 of 20,253 chunk names), and the chunk table does not compress
// (33 bytes a chunk), so publishing the whole index again cost more than the
// changed chunks themselves. A delta is `zstd --patch-from`: the new index
// compressed with the base index as zstd's prefix — about 70 bytes a
// changed file. An agent that deployed the base keeps it (index_chain.hpp)
// and fetches only the delta; a new agent fetches the base too.
//
// On the wire: one zstd frame holding
//   "HAULIDXD"
//   32 bytes: SHA-256 of the base index (decompressed)
//   varint: the base's decompressed size
//   varint length, location of the base: relative to the delta's folder
//     ("../r1/app.index") or a URL
//   varint depth: 1 when the base is a whole index, else its depth + 1
//   a zstd frame: the index, compressed with the base as its prefix
// The base is trusted only by its hash: a delta whose checksum the manifest
// covers names exactly one index.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "delta/release_index.hpp"

namespace haul::delta {

// Longer chains are refused (a loop, or a publish that never starts anew).
constexpr uint32_t kMaxDeltaDepth = 32;

bool is_index_delta_payload(const void* data, size_t n);

struct IndexDelta {
  ChunkName base{};
  uint64_t base_size = 0;
  std::string base_location;
  uint32_t depth = 1;
  std::string patch;
};

// The delta file's bytes (compressed), for `index` (decompressed, as
// encode_index_payload writes it) against `base` (likewise).
std::string encode_index_delta(const std::string& base, const std::string& index, const std::string& base_location,
                               uint32_t depth);
// Reads a delta's decompressed bytes; throws haul::Error naming origin.
IndexDelta read_index_delta(const std::string& payload, const std::string& origin);
// The index the delta makes of base. Throws haul::Error naming origin when
// base is not the index the delta names, or the result is not an index or
// larger than max.
std::string apply_index_delta(const IndexDelta& delta, const std::string& base, const std::string& origin,
                              uint64_t max);

}  // namespace haul::delta
