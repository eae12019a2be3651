// SPDX-License-Identifier: Apache-2.0
// A release index published as a delta of the one before: it makes exactly
// the new index from exactly the base it names, it is small when little
// changed, and anything else — another base, a damaged patch, an absurd
// chain — is refused with a message that names the delta.
#include <gtest/gtest.h>

#include <random>

#include "delta/chunk_name.hpp"
#include "delta/index_delta.hpp"
#include "delta/release_index.hpp"
#include "util/error.hpp"
#include "test_support.hpp"

using namespace haul::delta;
using haul::test::error_of;

namespace {

// W1's shape: 20,000 one-chunk files in 100 folders.
ReleaseIndex w1_like(uint64_t seed) {
  std::mt19937_64 rng(seed);
  ReleaseIndex idx;
  idx.chunk_store = "..";
  for (int i = 0; i < 20000; ++i) {
    Chunk c;
    for (auto& b : c.name) b = static_cast<uint8_t>(rng());
    c.size = 1000 + static_cast<uint32_t>(rng() % 9000);
    idx.chunks.push_back(c);
  }
  char path[64];
  for (uint32_t i = 0; i < 20000; ++i) {
    std::snprintf(path, sizeof path, "app/d%03u/file%05u.rb", i / 200, i);
    idx.entries.push_back({path, EntryType::file, 0644, 1700000000, idx.chunks[i].size, "", {i}});
  }
  std::sort(idx.entries.begin(), idx.entries.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
  return idx;
}

// 1 % of the files edited, scattered: a new chunk and mtime each.
ReleaseIndex edited(ReleaseIndex idx) {
  std::mt19937_64 rng(7);
  for (size_t i = 0; i < idx.entries.size(); i += 100) {
    IndexEntry& e = idx.entries[i];
    Chunk& c = idx.chunks[e.chunks[0]];
    for (auto& b : c.name) b = static_cast<uint8_t>(rng());
    e.mtime += 60;
  }
  return idx;
}

}  // namespace

TEST(IndexDelta, MakesExactlyTheNewIndexFromItsBaseAndCostsLittleWhenLittleChanged) {
  const std::string base = encode_index_payload(w1_like(1));
  const std::string next = encode_index_payload(edited(w1_like(1)));
  const std::string file = encode_index_delta(base, next, "../r1/app.index", 1);
  const std::string whole = encode_index(edited(w1_like(1)));

  const std::string payload = decompress_index(file, "r2/app.index", 1 << 30);
  ASSERT_TRUE(is_index_delta_payload(payload.data(), payload.size()));
  ASSERT_TRUE(is_index_or_delta_payload(payload.data(), payload.size()));
  const IndexDelta d = read_index_delta(payload, "r2/app.index");
  EXPECT_EQ(d.base_location, "../r1/app.index");
  EXPECT_EQ(d.depth, 1u);
  EXPECT_EQ(d.base_size, base.size());
  EXPECT_EQ(apply_index_delta(d, base, "r2/app.index", 1 << 30), next);
  // 200 new chunk names are 6.4 kB that do not compress; the whole index is 20,000 of them.
  EXPECT_LT(file.size(), 200u * 80);
  EXPECT_GT(whole.size(), 20000u * 33);
}

TEST(IndexDelta, AnotherBaseADamagedPatchOrAnAbsurdChainIsRefused) {
  const std::string base = encode_index_payload(w1_like(1));
  const std::string next = encode_index_payload(edited(w1_like(1)));
  const std::string payload = decompress_index(encode_index_delta(base, next, "../r1/app.index", 3), "d", 1 << 30);
  const IndexDelta d = read_index_delta(payload, "s3://b/app/r2/app.index");

  const std::string other = encode_index_payload(w1_like(2));
  try {
    apply_index_delta(d, other, "s3://b/app/r2/app.index", 1 << 30);
    FAIL() << "applied to another base";
  } catch (const haul::Error& e) {
    EXPECT_EQ(e.kind(), haul::Error::Kind::checksum_mismatch);
    EXPECT_NE(std::string(e.what()).find("index delta s3://b/app/r2/app.index: its base ../r1/app.index is not the index "
                                         "it was made against"),
              std::string::npos)
        << e.what();
  }

  IndexDelta damaged = d;
  damaged.patch[damaged.patch.size() / 2] ^= 0x55;
  EXPECT_NE(error_of([&] { apply_index_delta(damaged, base, "r2", 1 << 30); }).find("index delta r2: "),
            std::string::npos);
  EXPECT_NE(error_of([&] { apply_index_delta(d, base, "r2", 1000); }).find("bytes; refused (at most 1000)"),
            std::string::npos);

  std::string deep = payload;
  const size_t depth_at = 8 + 32 + 3 + 1 + std::string("../r1/app.index").size();  // base size: 3 varint bytes
  ASSERT_EQ(deep[depth_at], 3);
  deep[depth_at] = 33;
  EXPECT_NE(error_of([&] { read_index_delta(deep, "r2"); }).find("a chain of 33 deltas; expected 1 to 32"),
            std::string::npos);
  EXPECT_NE(error_of([&] { read_index_delta(payload.substr(0, 30), "r2"); }).find("ends inside the base's hash"),
            std::string::npos);
  // A whole-index reader told it holds a delta says so.
  EXPECT_NE(error_of([&] { decode_index_payload(payload, "r2"); }).find("a delta of another index"), std::string::npos);
}

TEST(IndexDelta, TheBaseIsFoundBesideTheDeltaOrAtItsUrlAndNeverAboveTheRoot) {
  EXPECT_EQ(index_base_url("s3://b/app/r2/app.index", "../r1/app.index"), "s3://b/app/r1/app.index");
  EXPECT_EQ(index_base_url("https://h/app/r2/app.index?x=1", "../r1/app.index"), "https://h/app/r1/app.index");
  EXPECT_EQ(index_base_url("file:///srv/app/r2/app.index", "https://h/r1/app.index"), "https://h/r1/app.index");
  EXPECT_NE(error_of([&] { index_base_url("s3://b/r2/app.index", "../../../r1/app.index"); })
                .find("its base index '../../../r1/app.index' is above the URL's root"),
            std::string::npos);
}
