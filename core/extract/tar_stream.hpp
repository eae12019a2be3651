// SPDX-License-Identifier: Apache-2.0
// libarchive reading a tar stream — plain or with any compression it
// detects — from a ChunkReader: the plumbing the extractor and the deploy
// planner share. A failure of the stream itself (a cut download) is
// reported in its own words rather than as libarchive's "read error".
#pragma once

#include <archive.h>

#include <cstdint>
#include <memory>
#include <string>

#include "transfer/chunk_reader.hpp"
#include "util/error.hpp"

namespace haul {

class TarStream {
 public:
  // origin names the archive in errors. Throws when the bytes are not a tar.
  TarStream(const ChunkReader& read, std::string origin);
  struct archive* get() const { return in_.get(); }
  // Bytes of the (compressed) archive read so far.
  uint64_t compressed() const { return state_.compressed; }
  const std::string& origin() const { return origin_; }
  bool stream_failed() const { return !state_.failure.empty(); }
  // The error for a failed call: the stream's own, else "origin: what: libarchive's".
  Error fail(const std::string& what) const;

  static constexpr const char* kNotATar = "not a tar archive (tar, tar.gz, tar.zst, tar.xz, tar.bz2 expected)";

 private:
  struct State {
    const ChunkReader* read;
    std::string failure;
    uint64_t compressed = 0;
  };
  static la_ssize_t on_read(struct archive* a, void* ctx, const void** buf);
  std::string origin_;
  State state_;
  std::unique_ptr<struct archive, int (*)(struct archive*)> in_;
};

}  // namespace haul
