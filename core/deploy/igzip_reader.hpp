// gzip artifacts inflated by ISA-L's igzip (Debian's libisal) on a thread of
// their own: several times zlib's speed, and it overlaps with the download +
// hash thread before it and libarchive's tar extraction after it. libarchive
// then reads a plain tar stream. Without libisal at build time (HAUL_HAVE_ISAL
// unset) libarchive inflates with zlib as before.
//
// The decompression-bomb ratio check moves here with the inflation: output
// beyond max_ratio × input (judged past 64 MiB) stops the stream.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "deploy/byte_pipe.hpp"
#include "deploy/extractor.hpp"

namespace haul {

bool igzip_available();
bool looks_like_gzip(const void* data, size_t len);

class IgzipReader {
 public:
  // source yields the compressed bytes; origin names the artifact in errors.
  IgzipReader(ChunkReader source, std::string origin, uint64_t max_ratio);
  ~IgzipReader();
  IgzipReader(const IgzipReader&) = delete;
  IgzipReader& operator=(const IgzipReader&) = delete;

  // The inflated bytes, as a ChunkReader; throws the inflation's error.
  std::pair<const void*, size_t> next();
  // Stops the thread (the reader may stop early) and waits for it.
  void stop();

 private:
  void run();
  ChunkReader source_;
  std::string origin_;
  uint64_t max_ratio_;
  BytePipe out_;
  std::thread thread_;
};

}  // namespace haul
