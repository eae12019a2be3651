// SPDX-License-Identifier: Apache-2.0
#include "delta/pack_map.hpp"

#include <zstd.h>

#include <regex>

#include "delta/chunk_name.hpp"
#include "delta/varint_reader.hpp"
#include "util/error.hpp"

namespace haul::delta {
namespace {

const char kMagic[] = "HAULPKM1";
constexpr size_t kMagicLen = sizeof kMagic - 1;
constexpr uint64_t kMaxDecoded = 64ull << 20;

}  // namespace

std::string pack_key(const std::string& sha256_hex) { return "packs/" + sha256_hex + ".pack"; }

// Offsets go as the distance from where the previous chunk of the same pack
// ended: a pack is written in index order, so that is 0 almost always.
std::string encode_pack_map(const PackMap& map) {
  std::string raw(kMagic, kMagicLen);
  raw.append(reinterpret_cast<const char*>(map.index_digest.data()), map.index_digest.size());
  put_varint(raw, map.packs.size());
  for (const auto& p : map.packs) {
    put_varint(raw, p.size());
    raw += p;
  }
  put_varint(raw, map.chunks.size());
  std::vector<uint64_t> end(map.packs.size(), 0);
  for (const auto& c : map.chunks) {
    if (!c) {
      put_varint(raw, 0);
      continue;
    }
    if (c->pack >= map.packs.size())
      throw Error("pack map: a chunk in pack " + std::to_string(c->pack + 1ull) + " of " + std::to_string(map.packs.size()));
    put_varint(raw, c->pack + 1ull);
    put_varint(raw, zigzag(static_cast<int64_t>(c->offset - end[c->pack])));
    put_varint(raw, c->stored);
    end[c->pack] = c->offset + c->stored;
  }
  std::string out(ZSTD_compressBound(raw.size()), '\0');
  const size_t n = ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), 19);
  if (ZSTD_isError(n)) throw Error(std::string("compressing a pack map: ") + ZSTD_getErrorName(n));
  out.resize(n);
  return out;
}

PackMap decode_pack_map(const std::string& bytes, const std::string& origin, const ReleaseIndex& index,
                        const ChunkName& index_digest) {
  const std::string subject = "pack map " + origin;
  const std::string raw = decompress_bounded(bytes, subject, kMaxDecoded);
  VarintReader r(raw, subject);
  if (r.bytes(std::min(kMagicLen, r.left()), "its magic") != std::string(kMagic, kMagicLen))
    r.fail("not a pack map (it does not start with " + std::string(kMagic) + ")");
  PackMap map;
  const std::string digest = r.bytes(map.index_digest.size(), "the index digest");
  std::copy(digest.begin(), digest.end(), map.index_digest.begin());
  if (map.index_digest != index_digest)
    r.fail("maps another index (its digest " + hex(map.index_digest) + ", the index's " + hex(index_digest) + ")");
  const uint64_t npacks = r.varint("the pack count");
  if (npacks > index.chunks.size()) r.fail("names " + std::to_string(npacks) + " packs for " +
                                           std::to_string(index.chunks.size()) + " chunks");
  static const std::regex key("packs/[0-9a-f]{64}\\.pack");
  for (uint64_t i = 0; i < npacks; ++i) {
    const uint64_t len = r.varint("a pack name");
    if (len > 128) r.fail("a pack name of " + std::to_string(len) + " bytes");
    map.packs.push_back(r.bytes(static_cast<size_t>(len), "a pack name"));
    if (!std::regex_match(map.packs.back(), key))
      r.fail("'" + map.packs.back() + "' is not a pack's name (expected packs/<sha256>.pack)");
  }
  const uint64_t n = r.varint("the chunk count");
  if (n != index.chunks.size())
    r.fail("maps " + std::to_string(n) + " chunks; the index has " + std::to_string(index.chunks.size()));
  map.chunks.resize(static_cast<size_t>(n));
  std::vector<uint64_t> end(map.packs.size(), 0);
  for (size_t i = 0; i < n; ++i) {
    const uint64_t pack = r.varint("a chunk's pack");
    if (pack == 0) continue;
    if (pack > map.packs.size()) r.fail("a chunk in pack " + std::to_string(pack) + " of " + std::to_string(map.packs.size()));
    PackedAt at;
    at.pack = static_cast<uint32_t>(pack - 1);
    const int64_t gap = unzigzag(r.varint("a chunk's offset"));
    const uint64_t stored = r.varint("a chunk's length");
    const uint64_t bound = ZSTD_compressBound(index.chunks[i].size) + 64;
    if (stored == 0 || stored > bound)
      r.fail("chunk " + hex(index.chunks[i].name) + " stored in " + std::to_string(stored) + " bytes; a " +
             std::to_string(index.chunks[i].size) + "-byte chunk takes 1 to " + std::to_string(bound));
    const uint64_t offset = end[at.pack] + static_cast<uint64_t>(gap);
    // 0 - gap in unsigned arithmetic: -gap overflows for the most negative gap.
    if ((gap < 0 && 0 - static_cast<uint64_t>(gap) > end[at.pack]) || offset > (1ull << 48))
      r.fail("chunk " + hex(index.chunks[i].name) + " at an offset outside any pack");
    at.offset = offset;
    at.stored = static_cast<uint32_t>(stored);
    end[at.pack] = offset + stored;
    map.chunks[i] = at;
  }
  if (!r.done()) r.fail(std::to_string(r.left()) + " bytes after the last chunk");
  return map;
}

}  // namespace haul::delta
