// SPDX-License-Identifier: Apache-2.0
// Decompression on a thread of its own, between the download + hash thread
// and libarchive's tar extraction: on two cores the three overlap, and
// libarchive reads a plain tar stream. gzip is inflated by ISA-L's igzip
// (Debian's libisal, several times zlib's speed), zstd by libzstd. Both are
// optional at build time (HAUL_HAVE_ISAL, HAUL_HAVE_ZSTD); without them
// libarchive decompresses on the extraction thread as before. Other formats
// (xz, bzip2) always go that way.
//
// The decompression-bomb ratio check lives here with the decompression:
// output beyond max_ratio × input (judged past 64 MiB) stops the stream.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "transfer/byte_pipe.hpp"
#include "transfer/chunk_reader.hpp"
#include "util/joining_thread.hpp"

namespace haul {

enum class Codec { none, gzip, zstd };

// The codec this build decompresses on its own thread for a stream that
// starts with these bytes; Codec::none leaves it to libarchive.
Codec threaded_codec_for(const void* data, size_t len);

class DecompressThread {
 public:
  // source yields the compressed bytes; origin names the artifact in errors.
  DecompressThread(Codec codec, ChunkReader source, std::string origin, uint64_t max_ratio);
  ~DecompressThread();
  DecompressThread(const DecompressThread&) = delete;
  DecompressThread& operator=(const DecompressThread&) = delete;

  // The decompressed bytes, as a ChunkReader; throws the decompression's error.
  std::pair<const void*, size_t> next();
  // Stops the thread (the reader may stop early) and waits for it.
  void stop();

 private:
  void run(Codec codec);
  ChunkReader source_;
  std::string origin_;
  uint64_t max_ratio_;
  BytePipe out_;
  JoiningThread thread_;  // last: joined (by stop()) before the members it reads go
};

}  // namespace haul
