// SPDX-License-Identifier: Apache-2.0
// The pack map: what publish writes, an agent reads back; and what it
// refuses of a map that is not its index's, or that lies about its packs.
#include <gtest/gtest.h>
#include <zstd.h>

#include "delta/chunk_name.hpp"
#include "delta/pack_map.hpp"
#include "util/error.hpp"

using namespace haul::delta;

namespace {

ReleaseIndex three_chunks() {
  ReleaseIndex idx;
  idx.chunk_store = "..";
  idx.chunks = {{ChunkName{1}, 1000}, {ChunkName{2}, 70000}, {ChunkName{3}, 5}};
  return idx;
}

const ChunkName kDigest{7, 7, 7};

PackMap a_map() {
  PackMap m;
  m.index_digest = kDigest;
  m.packs = {pack_key(std::string(64, 'a')), pack_key(std::string(64, 'b'))};
  m.chunks = {PackedAt{1, 0, 400}, std::nullopt, PackedAt{0, 9000, 14}};
  return m;
}

std::string refusal(const std::string& bytes, const ReleaseIndex& idx = three_chunks(), const ChunkName& digest = kDigest) {
  try {
    decode_pack_map(bytes, "https://s/r1/app.index.packs", idx, digest);
  } catch (const haul::Error& e) {
    return e.what();
  }
  return "";
}

std::string zstd(const std::string& raw) {
  std::string out(ZSTD_compressBound(raw.size()), '\0');
  out.resize(ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), 1));
  return out;
}

}  // namespace

TEST(PackMap, RoundTripsWhereEachChunkIs) {
  const PackMap back = decode_pack_map(encode_pack_map(a_map()), "m", three_chunks(), kDigest);
  EXPECT_EQ(back.packs, a_map().packs);
  ASSERT_EQ(back.chunks.size(), 3u);
  EXPECT_EQ(back.chunks[0]->pack, 1u);
  EXPECT_EQ(back.chunks[0]->offset, 0u);
  EXPECT_EQ(back.chunks[0]->stored, 400u);
  EXPECT_FALSE(back.chunks[1]);
  EXPECT_EQ(back.chunks[2]->pack, 0u);
  EXPECT_EQ(back.chunks[2]->offset, 9000u);
}

TEST(PackMap, AMapOfAnotherIndexIsRefusedNamingBothDigests) {
  const std::string e = refusal(encode_pack_map(a_map()), three_chunks(), ChunkName{8});
  EXPECT_NE(e.find("pack map https://s/r1/app.index.packs: maps another index"), std::string::npos) << e;
  ReleaseIndex two = three_chunks();
  two.chunks.pop_back();
  EXPECT_NE(refusal(encode_pack_map(a_map()), two).find("maps 3 chunks; the index has 2"), std::string::npos);
}

TEST(PackMap, LiesAboutPacksAreRefused) {
  PackMap m = a_map();
  m.packs[0] = "../../etc/passwd";
  EXPECT_NE(refusal(encode_pack_map(m)).find("is not a pack's name"), std::string::npos);
  m = a_map();
  m.chunks[2]->stored = 1 << 20;  // a 5-byte chunk never takes 1 MiB stored
  EXPECT_NE(refusal(encode_pack_map(m)).find("stored in 1048576 bytes"), std::string::npos);
  m.chunks[2]->stored = 0;
  EXPECT_NE(refusal(encode_pack_map(m)).find("stored in 0 bytes"), std::string::npos);
  // A pack number past the list: the encoder will not write it, the decoder refuses it.
  m = a_map();
  m.chunks[0]->pack = 5;
  EXPECT_THROW(encode_pack_map(m), haul::Error);
  m.packs.resize(6, pack_key(std::string(64, 'c')));
  std::string bytes = encode_pack_map(m);
  std::string raw(bytes.size() * 8, '\0');
  raw.resize(ZSTD_decompress(raw.data(), raw.size(), bytes.data(), bytes.size()));
  raw[8 + 32] = 2;  // the pack count: 6 -> 2 ...
  raw.erase(8 + 32 + 1 + 2 * 76, 4 * 76);  // ... and the last 4 names gone
  EXPECT_NE(refusal(zstd(raw)).find("in pack 6 of 2"), std::string::npos) << refusal(zstd(raw));
}

TEST(PackMap, TruncatedTrailingOrForeignBytesAreRefused) {
  const std::string good = encode_pack_map(a_map());
  EXPECT_NE(refusal("not zstd").find("not zstd-compressed"), std::string::npos);
  EXPECT_NE(refusal(zstd("HAULIDX1 an index, not a map")).find("not a pack map"), std::string::npos);
  std::string raw(good.size() * 4, '\0');
  raw.resize(ZSTD_decompress(raw.data(), raw.size(), good.data(), good.size()));
  EXPECT_NE(refusal(zstd(raw.substr(0, raw.size() - 2))).find("ends inside"), std::string::npos);
  EXPECT_NE(refusal(zstd(raw + "x")).find("1 bytes after the last chunk"), std::string::npos);
}
