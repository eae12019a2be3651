// SPDX-License-Identifier: Apache-2.0
// Delta releases' building blocks: content-defined chunking keeps the chunks
// of unchanged content when something changes, and the release index
// round-trips and refuses every kind of hostile index before anything is
// written (nothing here writes: the index is only decoded).
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "delta/content_chunker.hpp"
#include "delta/release_index.hpp"
#include "util/digest.hpp"
#include "util/error.hpp"
#include "test_support.hpp"

#include <zstd.h>

using namespace haul::delta;
using haul::test::random_bytes;

namespace {

std::vector<std::string> chunks_of(const std::string& data) {
  std::vector<std::string> out;
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  for (size_t at = 0; at < data.size();) {
    size_t n = chunk_length(p + at, data.size() - at);
    out.push_back(data.substr(at, n));
    at += n;
  }
  return out;
}

ChunkName name_of(const std::string& bytes) {
  std::string h = haul::sha256_hex(bytes);
  ChunkName n{};
  for (size_t i = 0; i < 32; ++i) n[i] = static_cast<uint8_t>(std::stoi(h.substr(2 * i, 2), nullptr, 16));
  return n;
}

ReleaseIndex sample() {
  ReleaseIndex idx;
  idx.chunk_store = "../../store";
  idx.chunks = {{name_of("a"), 1}, {name_of("bb"), 2}, {name_of("ccc"), 3}};
  idx.entries.push_back({"app", EntryType::dir, 0755, 1700000000, 0, "", {}});
  idx.entries.push_back({"app/bin", EntryType::file, 0755, -5, 6, "", {0, 1, 2}});
  idx.entries.push_back({"app/copy", EntryType::hardlink, 0644, 1700000000, 0, "app/bin", {}});
  idx.entries.push_back({"app/link", EntryType::symlink, 0777, 1700000000, 0, "bin", {}});
  idx.entries.push_back({"app/ünïcode file", EntryType::file, 0600, 1700000001, 3, "", {2}});
  return idx;
}

std::string refusal(const std::string& bytes) {
  try {
    decode_index(bytes, "s3://releases/app/r1.index");
  } catch (const haul::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(ContentChunker, BoundariesAreWithinLimitsAndAnEditDisturbsOnlyTheChunksNearIt) {
  const std::string data = random_bytes(4 << 20, 1);
  auto before = chunks_of(data);
  size_t total = 0;
  for (size_t i = 0; i < before.size(); ++i) {
    total += before[i].size();
    if (i + 1 < before.size()) {
      EXPECT_GE(before[i].size(), kChunkSizes.min);
      EXPECT_LE(before[i].size(), kChunkSizes.max);
    }
  }
  EXPECT_EQ(total, data.size());
  EXPECT_GT(before.size(), 40u) << "about 64 KiB on average";
  EXPECT_LT(before.size(), 130u);

  std::string edited = data;
  edited.insert(2 << 20, "a few inserted bytes");
  auto after = chunks_of(edited);
  std::set<std::string> old(before.begin(), before.end());
  size_t kept = 0;
  for (const auto& c : after) kept += old.count(c);
  EXPECT_GE(kept + 3, after.size()) << "only the chunks around the edit are new";
  EXPECT_EQ(chunks_of(data), before) << "the same bytes always cut the same way";
  EXPECT_EQ(chunk_length(reinterpret_cast<const uint8_t*>("tiny"), 4), 4u) << "a small file is one chunk";
}

TEST(ReleaseIndex, RoundTripsEveryEntryType) {
  const ReleaseIndex idx = sample();
  const ReleaseIndex back = decode_index(encode_index(idx), "test");
  ASSERT_EQ(back.entries.size(), idx.entries.size());
  ASSERT_EQ(back.chunks.size(), idx.chunks.size());
  EXPECT_EQ(back.chunk_store, "../../store");
  for (size_t i = 0; i < idx.chunks.size(); ++i) {
    EXPECT_EQ(back.chunks[i].name, idx.chunks[i].name);
    EXPECT_EQ(back.chunks[i].size, idx.chunks[i].size);
  }
  for (size_t i = 0; i < idx.entries.size(); ++i) {
    SCOPED_TRACE(idx.entries[i].path);
    EXPECT_EQ(back.entries[i].path, idx.entries[i].path);
    EXPECT_EQ(back.entries[i].type, idx.entries[i].type);
    EXPECT_EQ(back.entries[i].mode, idx.entries[i].mode);
    EXPECT_EQ(back.entries[i].mtime, idx.entries[i].mtime);
    EXPECT_EQ(back.entries[i].size, idx.entries[i].size);
    EXPECT_EQ(back.entries[i].target, idx.entries[i].target);
    EXPECT_EQ(back.entries[i].chunks, idx.entries[i].chunks);
  }
  EXPECT_EQ(hex(idx.chunks[0].name), haul::sha256_hex("a"));
}

TEST(ReleaseIndex, HostileIndexesAreRefusedNamingTheEntry) {
  struct Case {
    std::function<void(ReleaseIndex&)> spoil;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {[](ReleaseIndex& i) { i.entries[1].path = "app/../../etc/cron.d/x"; }, "entry 'app/../../etc/cron.d/x': a '..' path component"},
      {[](ReleaseIndex& i) { i.entries[0].path = "/etc"; }, "entry '/etc': an absolute path"},
      {[](ReleaseIndex& i) { i.entries[1].path = "app//bin"; }, "entry 'app//bin': an empty path component"},
      {[](ReleaseIndex& i) { i.entries[1].size = 7; }, "entry 'app/bin' is 7 bytes but its chunks add up to 6"},
      {[](ReleaseIndex& i) { i.entries[1].mode = 0100755; }, "entry 'app/bin' has mode 33261; expected permission bits"},
      {[](ReleaseIndex& i) { i.entries[2].target = "app/nothing"; }, "hard link 'app/copy' names 'app/nothing', which is not an earlier file"},
      {[](ReleaseIndex& i) { i.chunks[1].size = 300 << 10; }, "has size 307200; expected 1 to 262144"},
      {[](ReleaseIndex& i) { i.chunk_store = "../store\n/etc"; }, "the chunk store location holds a control character"},
  };
  for (const auto& c : cases) {
    ReleaseIndex idx = sample();
    c.spoil(idx);
    const std::string e = refusal(encode_index(idx));
    EXPECT_NE(e.find(c.expected), std::string::npos) << e;
    EXPECT_EQ(e.rfind("release index s3://releases/app/r1.index: ", 0), 0u) << e;
  }
}

TEST(ReleaseIndex, DuplicatesAbsurdCountsAndBrokenBytesAreRefused) {
  // Duplicates and disorder cannot be encoded; build them by hand from the codec's parts.
  ReleaseIndex idx = sample();
  idx.entries[2] = idx.entries[1];
  EXPECT_THROW(encode_index(idx), std::invalid_argument);

  auto frame = [](const std::string& raw) {
    std::string out(ZSTD_COMPRESSBOUND(raw.size()), '\0');
    out.resize(ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), 1));
    return out;
  };
  // 2^40 chunks claimed by a few bytes: refused before anything is allocated.
  EXPECT_NE(refusal(frame(std::string("HAULIDX1") + '\0' + "\x80\x80\x80\x80\x80\x20")).find("chunks is more than the index holds"),
            std::string::npos);
  EXPECT_NE(refusal(frame("HAULIDX0")).find("not a haul release index"), std::string::npos);
  EXPECT_NE(refusal("not zstd at all").find(": not zstd-compressed"), std::string::npos);
  std::string whole = encode_index(sample());
  EXPECT_NE(refusal(whole.substr(0, whole.size() / 2)), "") << "a truncated index";
  // A bomb: a few KiB that decode to more than the limit.
  haul::delta::IndexLimits small;
  small.max_decoded_bytes = 1 << 20;
  const std::string bomb = frame("HAULIDX1" + std::string(4 << 20, '\0'));
  EXPECT_NE(haul::test::error_of([&] { decode_index(bomb, "bomb", small); }).find("decodes to more than 1048576 bytes"),
            std::string::npos);
}

// Found by fuzz_release_index: a chunk-list step of -2^63 after chunk -1
// overflowed the sum (undefined behaviour) before the range check. The
// input is kept as a seed; here it must be refused, and UBSan (the ASan
// build) fails the test if the decoder computes the overflowing sum again.
TEST(ReleaseIndex, AChunkStepThatWouldOverflowIsRefused) {
  const std::string input = haul::test::read_file(HAUL_TEST_SOURCE_DIR "/fuzz/seeds/release_index/chunk-step-overflow");
  ASSERT_GT(input.size(), 1u);
  IndexLimits limits;
  try {
    decode_index_payload(input.substr(1), "fuzz", limits);
    FAIL() << "the index decoded";
  } catch (const haul::Error& e) {
    EXPECT_NE(std::string(e.what()).find("names a chunk the index does not have"), std::string::npos) << e.what();
  }
}
