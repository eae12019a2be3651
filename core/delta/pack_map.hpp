// SPDX-License-Identifier: Apache-2.0
// Where a release's chunks sit in the store's packs. A pack is the chunks
// one publish added, their stored (zstd) forms back to back, uploaded as
// one object: packs/<sha256 of the pack>.pack below the chunk store. A server
// that lacks many chunks — a new one, above all — fetches runs of
// neighbouring chunks as one range of a pack instead of one request each.
//
// The pack map sits beside the index (<index>.packs) and, for each chunk of
// the index in its order, says which pack holds it, at what offset, in how
// many bytes — or that it is only loose (chunks/<xx>/<sha256>.zst, which
// every chunk also is). It names the index it maps by the SHA-256 of its
// payload, so a stale map is never used. Nothing it says is trusted: a
// chunk read from a pack is hashed like any other, and a map that does not
// fit its index is refused whole.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "delta/release_index.hpp"

namespace haul::delta {

struct PackedAt {
  uint32_t pack = 0;    // in PackMap::packs
  uint64_t offset = 0;  // of the chunk's stored bytes in the pack
  uint32_t stored = 0;  // their length
};

struct PackMap {
  ChunkName index_digest{};        // chunk_name_of(the index payload)
  std::vector<std::string> packs;  // "packs/<hex>.pack", below the chunk store
  std::vector<std::optional<PackedAt>> chunks;  // by index chunk; nullopt: loose only
};

// "packs/<hex>.pack" for a pack whose bytes' SHA-256 is sha256_hex.
std::string pack_key(const std::string& sha256_hex);

std::string encode_pack_map(const PackMap& map);
// Refuses (haul::Error naming origin) bytes that are not a pack map of
// exactly `index` (digest, chunk count), a pack not named like a pack, or a
// stored length no chunk of its size can have.
PackMap decode_pack_map(const std::string& bytes, const std::string& origin, const ReleaseIndex& index,
                        const ChunkName& index_digest);

}  // namespace haul::delta
