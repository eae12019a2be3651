// SPDX-License-Identifier: Apache-2.0
#include "transfer/decompress_thread.hpp"

#include <gtest/gtest.h>

#include "test_support.hpp"
#include "util/error.hpp"

using namespace haul;
using namespace haul::test;

namespace {

std::string decompress(const std::string& compressed, uint64_t max_ratio = 1000) {
  const Codec codec = threaded_codec_for(compressed.data(), compressed.size());
  if (codec == Codec::none) throw std::logic_error("no threaded codec for this stream");
  DecompressThread thread(codec, chunks_of(compressed, 1000), "file:///app.tar", max_ratio);
  std::string out;
  for (auto [data, len] = thread.next(); len; std::tie(data, len) = thread.next())
    out.append(static_cast<const char*>(data), len);
  return out;
}

std::string decompress_error(const std::string& compressed, uint64_t max_ratio = 1000) {
  try {
    decompress(compressed, max_ratio);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

struct DecompressThreadTest : ::testing::TestWithParam<std::string> {
  void SetUp() override {
    const std::string sample = make_tar({file_entry("a", "x")}, GetParam());
    if (threaded_codec_for(sample.data(), sample.size()) == Codec::none)
      GTEST_SKIP() << "this build decompresses " << GetParam() << " with libarchive";
  }
  std::vector<Entry> entries = {dir_entry("app"), file_entry("app/a.txt", std::string(300000, 'a') + "end"),
                                file_entry("app/b.txt", "bee")};
};

TEST_P(DecompressThreadTest, YieldsThePlainTarStream) {
  EXPECT_EQ(decompress(make_tar(entries, GetParam())), make_tar(entries, "none"));
}

TEST_P(DecompressThreadTest, ConcatenatedStreamsDecompressAsOne) {
  const std::vector<Entry> more = {file_entry("c.txt", "sea")};
  EXPECT_EQ(decompress(make_tar(entries, GetParam()) + make_tar(more, GetParam())),
            make_tar(entries, "none") + make_tar(more, "none"));
}

TEST_P(DecompressThreadTest, TruncatedStreamIsAnErrorNamingTheArtifact) {
  std::string bytes = make_tar(entries, GetParam());
  bytes.resize(bytes.size() - 20);
  const std::string err = decompress_error(bytes);
  EXPECT_NE(err.find("file:///app.tar"), std::string::npos) << err;
  EXPECT_TRUE(err.find("ends early") != std::string::npos || err.find("not a valid") != std::string::npos) << err;
}

TEST_P(DecompressThreadTest, CorruptStreamIsAnError) {
  std::string bytes = make_tar(entries, GetParam());
  for (size_t i = 30; i < 60; ++i) bytes[i] = static_cast<char>(bytes[i] ^ 0x5a);
  const std::string err = decompress_error(bytes);
  EXPECT_NE(err.find("file:///app.tar: not a valid"), std::string::npos) << err;
}

TEST_P(DecompressThreadTest, BombStopsAtTheRatio) {
  const std::string bytes = make_tar({file_entry("zeros", std::string(80 << 20, '\0'))}, GetParam());
  const std::string err = decompress_error(bytes, 10);
  EXPECT_NE(err.find("decompression bomb"), std::string::npos) << err;
  EXPECT_NE(err.find("max_compression_ratio"), std::string::npos) << err;
  EXPECT_EQ(decompress_error(bytes, 1000000), "");
}

INSTANTIATE_TEST_SUITE_P(Codecs, DecompressThreadTest, ::testing::Values("gzip", "zstd"));

TEST(DecompressThread, OtherFormatsAreLeftToLibarchive) {
  const std::string xz = make_tar({file_entry("a", "x")}, "xz");
  const std::string plain = make_tar({file_entry("a", "x")}, "none");
  EXPECT_EQ(threaded_codec_for(xz.data(), xz.size()), Codec::none);
  EXPECT_EQ(threaded_codec_for(plain.data(), plain.size()), Codec::none);
}

}  // namespace
