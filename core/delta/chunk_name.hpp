// SPDX-License-Identifier: Apache-2.0
// A chunk of a delta release is named by the SHA-256 of its bytes and stored
// zstd-compressed under that name: chunks/<first two hex digits>/<hex>.zst
// below the chunk store. The name is the only thing an agent trusts about a
// chunk: whatever its source (a store, a file it already holds), the bytes
// are hashed before use.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "delta/release_index.hpp"

namespace haul::delta {

ChunkName chunk_name_of(const void* data, size_t n);

// A file entry's content, named without its bytes: its one chunk's name, or
// the hex SHA-256 of its chunks' names in order (the names fix the bytes, so
// equal digests mean equal files).
std::string chunk_list_digest(const ReleaseIndex& index, const IndexEntry& entry);

// "chunks/ab/abcdef….zst": where a chunk lives below its store.
std::string chunk_key(const ChunkName& name);

// The chunk store's URL, ending in '/', for an index fetched from index_url
// whose chunk_store is `store` (relative to the index's folder, or a URL).
// Throws haul::Error naming both when a relative store climbs above the
// URL's root.
std::string chunk_store_url(const std::string& index_url, const std::string& store);
// Likewise the base index a delta names (index_delta.hpp), a file.
std::string index_base_url(const std::string& index_url, const std::string& location);

std::string compress_chunk(const void* data, size_t n, int level);

// The chunk's bytes from its stored (compressed) form. Throws haul::Error of
// kind checksum_mismatch naming origin when they are not what the index
// says: not zstd, another size, or another hash.
std::string decompress_chunk(std::string_view stored, const Chunk& expected, const std::string& origin);

}  // namespace haul::delta
