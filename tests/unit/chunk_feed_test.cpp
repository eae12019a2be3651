// SPDX-License-Identifier: Apache-2.0
// The agent's side of delta releases below the binary: where an index's
// chunk store is, and the feed that gathers chunks in order — from local
// copies when they hash right, from the fetch otherwise, once per chunk
// however many files share it, and failing with the fetch's own error.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <set>

#include "delta/chunk_feed.hpp"
#include "delta/chunk_name.hpp"
#include "delta/content_chunker.hpp"
#include "util/error.hpp"
#include "test_support.hpp"

using namespace haul;
using namespace haul::test;
using delta::ChunkFeed;

namespace {

// An index of these files, cut as haul pack cuts them, and the chunks' bytes by name.
struct Built {
  delta::ReleaseIndex index;
  std::map<std::string, std::string> bytes;  // hex name -> bytes
};

Built build(const std::vector<std::pair<std::string, std::string>>& files) {
  Built b;
  std::map<std::string, uint32_t> seen;
  for (const auto& [path, content] : files) {
    delta::IndexEntry e;
    e.path = path;
    e.size = content.size();
    e.mode = 0644;
    for (size_t at = 0; at < content.size();) {
      const size_t n = delta::chunk_length(reinterpret_cast<const uint8_t*>(content.data()) + at, content.size() - at);
      const delta::ChunkName name = delta::chunk_name_of(content.data() + at, n);
      auto [it, fresh] = seen.emplace(delta::hex(name), static_cast<uint32_t>(b.index.chunks.size()));
      if (fresh) b.index.chunks.push_back({name, static_cast<uint32_t>(n)});
      b.bytes[delta::hex(name)] = content.substr(at, n);
      e.chunks.push_back(it->second);
      at += n;
    }
    b.index.entries.push_back(e);
  }
  return b;
}

// Reads every file's bytes back through the feed, in index order.
std::vector<std::string> read_all(const Built& b, ChunkFeed& feed) {
  std::vector<std::string> out;
  for (const auto& e : b.index.entries) {
    std::string file;
    for (size_t k = 0; k < e.chunks.size(); ++k) file += *feed.next();
    out.push_back(file);
  }
  return out;
}

}  // namespace

TEST(ChunkStoreUrl, RelativeToTheIndexFolderOrAUrlAndNeverAboveTheRoot) {
  EXPECT_EQ(delta::chunk_store_url("http://h:8080/dist/r1/app.index", ".."), "http://h:8080/dist/");
  EXPECT_EQ(delta::chunk_store_url("http://h/dist/r1/app.index?sig=x", ""), "http://h/dist/r1/");
  EXPECT_EQ(delta::chunk_store_url("s3://bucket/app/r1/app.index", "../../common/store"), "s3://bucket/common/store/");
  EXPECT_EQ(delta::chunk_store_url("file:///srv/r/app.index", "../chunkstore"), "file:///srv/chunkstore/");
  EXPECT_EQ(delta::chunk_store_url("file:///srv/r/app.index", "https://cdn/x"), "https://cdn/x/");
  try {
    delta::chunk_store_url("s3://bucket/r1/app.index", "../..");
    FAIL() << "climbed above the bucket";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("its chunk store '../..' is above the URL's root"), std::string::npos) << e.what();
  }
}

TEST(ChunkFeed, LocalCopiesThatHashRightAreUsedAndOnlyTheRestIsFetchedOnceEach) {
  TempDir tmp;
  const std::string big = random_bytes(600 << 10, 1), small = random_bytes(3000, 2);
  std::string edited = big;
  edited.insert(300 << 10, "an insertion");
  // New release: the big file edited, the small one unchanged, a copy of the small one under another name twice.
  const Built b = build({{"a/big", edited}, {"a/small", small}, {"b/copy1", random_bytes(5000, 3)}, {"b/copy2", random_bytes(5000, 3)}});
  write_file(tmp / "dest/a/big", big);
  write_file(tmp / "dest/a/small", small.substr(0, 100) + "X" + small.substr(101));  // same size, other bytes
  std::mutex mu;
  std::map<std::string, int> fetches;
  delta::FeedOptions o;
  o.local_roots = {tmp / "dest"};
  o.workers = 3;
  ChunkFeed feed(b.index, o, delta::each_chunk([&](size_t, const delta::Chunk& c, StopSignal&) {
    std::lock_guard<std::mutex> lock(mu);
    ++fetches[delta::hex(c.name)];
    return b.bytes.at(delta::hex(c.name));
  }));
  const auto files = read_all(b, feed);
  EXPECT_EQ(files[0], edited);
  EXPECT_EQ(files[1], small);
  EXPECT_EQ(files[2], files[3]);
  for (const auto& [name, n] : fetches) EXPECT_EQ(n, 1) << name;
  const auto st = feed.stats();
  EXPECT_GT(st.local_chunks, 0u);
  // Only the chunks around the insertion, the small file (its local copy hashes wrong) and one copy.
  EXPECT_LE(st.fetched_chunks, 4u);
  EXPECT_EQ(st.fetched_chunks, fetches.size());
  EXPECT_EQ(st.local_bytes + st.fetched_bytes + 5000, edited.size() + small.size() + 10000);
}

TEST(ChunkFeed, AFileLeftOutIsOneEmptyPieceAndNeitherReadNorFetchedWhileItsTwinStillIs) {
  const std::string shared = random_bytes(4000, 11);
  const Built b = build({{"a", random_bytes(3000, 10)}, {"b", shared}, {"c", shared}, {"d", random_bytes(300 << 10, 12)}});
  std::mutex mu;
  std::set<std::string> fetched;
  delta::FeedOptions o;
  o.leave_out = [](size_t entry) { return entry == 1 || entry == 3; };  // "b" (whose bytes "c" shares) and "d"
  ChunkFeed feed(b.index, o, delta::each_chunk([&](size_t, const delta::Chunk& c, StopSignal&) {
    std::lock_guard<std::mutex> lock(mu);
    fetched.insert(delta::hex(c.name));
    return b.bytes.at(delta::hex(c.name));
  }));
  EXPECT_EQ(*feed.next(), b.bytes.at(delta::hex(b.index.chunks[b.index.entries[0].chunks[0]].name)));
  EXPECT_EQ(feed.next(), nullptr);  // b: one marker
  EXPECT_EQ(*feed.next(), shared);  // c: its bytes, though b shared them
  EXPECT_EQ(feed.next(), nullptr);  // d: one marker for all its chunks
  EXPECT_EQ(fetched.size(), 2u);    // a's chunk and c's
  for (uint32_t c : b.index.entries[3].chunks) EXPECT_EQ(fetched.count(delta::hex(b.index.chunks[c].name)), 0u);
  EXPECT_THROW(feed.next(), Error);  // nothing more
}

TEST(ChunkFeed, AFailedFetchIsWhatTheReaderGetsWithItsKind) {
  const Built b = build({{"f1", random_bytes(2000, 7)}, {"f2", random_bytes(2000, 8)}, {"f3", random_bytes(2000, 9)}});
  ChunkFeed feed(b.index, {}, delta::each_chunk([&](size_t, const delta::Chunk& c, StopSignal&) -> std::string {
    if (c.name == b.index.chunks[b.index.entries[1].chunks[0]].name)
      throw Error("chunk http://x/chunks/ab.zst: its bytes do not hash to its name", Error::Kind::checksum_mismatch);
    return b.bytes.at(delta::hex(c.name));
  }));
  try {
    // The first file may come first or the failure may overtake it; the second never comes.
    for (int i = 0; i < 2; ++i) EXPECT_EQ(*feed.next(), b.bytes.at(delta::hex(b.index.chunks[0].name)));
    FAIL() << "read past a failed chunk";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::checksum_mismatch);
    EXPECT_NE(std::string(e.what()).find("do not hash"), std::string::npos);
  }
}

namespace {
// Twelve files of `bytes` each through a feed with `o`: what its workers had
// fetched once they reached `ahead` bytes with nothing read yet (they stop at
// the window, whatever they do meanwhile). Then every file is read back whole.
uint64_t fetched_before_reading(const delta::FeedOptions& o, size_t bytes, uint64_t ahead, int seed) {
  std::vector<std::pair<std::string, std::string>> files;
  for (int i = 0; i < 12; ++i) files.push_back({"f" + std::to_string(100 + i), random_bytes(bytes, seed + i)});
  const Built b = build(files);
  std::atomic<uint64_t> fetched{0};
  ChunkFeed feed(b.index, o, delta::each_chunk([&](size_t, const delta::Chunk& c, StopSignal&) {
    fetched += c.size;
    return b.bytes.at(delta::hex(c.name));
  }));
  EXPECT_TRUE(wait_until([&] { return fetched >= ahead; }));
  const uint64_t before = fetched.load();
  const auto all = read_all(b, feed);
  for (size_t i = 0; i < files.size(); ++i) EXPECT_EQ(all[i], files[i].second);
  EXPECT_EQ(fetched.load(), 12u * bytes);
  return before;
}
}  // namespace

TEST(ChunkFeed, WorkersStayWithinTheWindowAheadOfTheReader) {
  delta::FeedOptions o;
  o.workers = 4;
  o.window_bytes = 2 << 20;  // two segments of two 400 KiB files
  EXPECT_LE(fetched_before_reading(o, 400 << 10, 800u << 10, 100), o.window_bytes);
}

TEST(ChunkFeed, WorkersStayWithinTheSegmentsWindowToo) {
  delta::FeedOptions o;
  o.workers = 4;
  o.window_segments = 3;  // 600 KiB files, one a segment: far below the byte cap; a fourth worker idle
  EXPECT_EQ(fetched_before_reading(o, 600 << 10, 3u * (600 << 10), 200), 3u * (600 << 10));
}
