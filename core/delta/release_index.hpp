// SPDX-License-Identifier: Apache-2.0
// A release index: what a chunked release publishes instead of a tarball, and
// what an agent reads to assemble the release from chunks it holds or fetches.
// Every entry of the tree in byte order of its path — type, mode, mtime,
// size, link target, and for a file the content-defined chunks it is made of
// (content_chunker.hpp) — and the table of distinct chunks they name.
//
// On the wire (version 1): one zstd frame holding
//   "HAULIDX1"
//   varint length, the chunk store: where the chunks are, as a path relative
//     to the index's own folder ("" = that folder, "../.."), or a URL
//   varint chunk count; per chunk: 32-byte SHA-256, varint length
//   varint entry count; per entry:
//     varint bytes shared with the previous path, varint suffix length, suffix
//     byte type ('f' file, 'd' folder, 'l' symlink, 'h' hard link)
//     varint mode (permission bits), zigzag varint mtime (unix seconds)
//     'f': varint size, varint chunk count, per chunk the zigzag varint step
//          from the previous chunk's table index (mostly +1: one byte)
//     'l', 'h': varint target length, target
// The chunk table is what makes an index large (33 bytes a chunk); paths,
// modes and steps compress to little.
//
// decode_index trusts nothing — the index comes off the network, covered only
// by the manifest's checksum: counts and sizes are bounded before anything is
// allocated, paths must stay inside the release and be unique and sorted,
// hard links must name an earlier file, and a file's chunks must add up to
// its size. Errors name the index and the entry.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "delta/content_chunker.hpp"

namespace haul::delta {

using ChunkName = std::array<uint8_t, 32>;  // SHA-256 of the chunk's bytes
std::string hex(const ChunkName& name);

struct Chunk {
  ChunkName name{};
  uint32_t size = 0;
};

enum class EntryType : char { file = 'f', dir = 'd', symlink = 'l', hardlink = 'h' };

struct IndexEntry {
  std::string path;  // relative, '/'-separated
  EntryType type = EntryType::file;
  uint32_t mode = 0;  // permission bits, at most 07777
  int64_t mtime = 0;
  uint64_t size = 0;             // files
  std::string target;            // symlink: its target; hard link: an earlier file's path
  std::vector<uint32_t> chunks;  // files: indexes into ReleaseIndex::chunks, in order
};

struct ReleaseIndex {
  // Where the chunks are (chunks/<xx>/<sha256>.zst below it): relative to the
  // index's folder, '/'-separated ("" = that folder), or an absolute URL.
  std::string chunk_store;
  std::vector<Chunk> chunks;        // distinct
  std::vector<IndexEntry> entries;  // sorted by path, unique
};

struct IndexLimits {
  uint64_t max_entries = 10'000'000;
  uint64_t max_chunks = 100'000'000;
  uint64_t max_decoded_bytes = 2ull << 30;
  uint64_t max_file_size = 1ull << 40;
  uint32_t max_chunk_size = kChunkSizes.max;
  size_t max_path = 4096;
};

// Throws std::invalid_argument for an index that decode_index would refuse.
std::string encode_index(const ReleaseIndex& index, int zstd_level = 19);
// The same, not yet compressed: what decode_index_payload reads.
std::string encode_index_payload(const ReleaseIndex& index);
// An index file's (or a delta's, index_delta.hpp) decompressed bytes;
// refuses more than max. Throws haul::Error naming origin.
std::string decompress_index(const std::string& bytes, const std::string& origin, uint64_t max);
// zstd bytes from the network, decoded up to max bytes; errors begin with subject.
std::string decompress_bounded(const std::string& bytes, const std::string& subject, uint64_t max);
// origin: the index's URL or file, for messages.
ReleaseIndex decode_index(const std::string& bytes, const std::string& origin, const IndexLimits& limits = {});
// The same, for an index already decompressed (the deploy's artifact stream
// decompresses zstd on its own thread).
ReleaseIndex decode_index_payload(const std::string& raw, const std::string& origin, const IndexLimits& limits = {});
// Whether decompressed bytes start like an index ("HAULIDX1").
bool is_index_payload(const void* data, size_t n);
// Or like either an index or a delta of one (index_delta.hpp).
bool is_index_or_delta_payload(const void* data, size_t n);

}  // namespace haul::delta
