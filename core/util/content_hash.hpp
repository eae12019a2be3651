// SPDX-License-Identifier: Apache-2.0
// The fingerprint of a deployed file's bytes, for drift detection (`haul
// diff`): XXH3-128 from Debian's libxxhash. A deploy hashes every byte it
// places on the extraction thread, its busiest, so the hash must cost far
// less than writing the bytes: XXH3 runs at memory speed (~20 GB/s here),
// where SHA-256 would add a tenth to a fresh deploy. It detects change, not
// tampering — a signed manifest's checksum covers that.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace haul {

// 128 bits in 32 lower-case hex digits, without an allocation.
struct ContentDigest {
  char hex[32];
  std::string_view view() const { return {hex, sizeof hex}; }
  bool operator==(const ContentDigest& other) const { return view() == other.view(); }
};

class ContentHash {
 public:
  ContentHash();
  ~ContentHash();
  ContentHash(const ContentHash&) = delete;
  ContentHash& operator=(const ContentHash&) = delete;

  // Starts over for another file (no new state allocated).
  void reset();
  void update(const void* data, size_t len);
  // Bytes at offset: a gap since the last block (a sparse archive entry's
  // hole) counts as zeros, as it reads on disk.
  void update_at(const void* data, size_t len, uint64_t offset);
  // Zeros up to size (a trailing hole), then the digest.
  ContentDigest digest(uint64_t size);
  // Starts over and hashes a file on disk (not following a symlink), with
  // one read buffer for every file this object hashes. Throws haul::Error
  // naming the file when it cannot be read.
  ContentDigest digest_of_file(const std::filesystem::path& path);

 private:
  void zeros(uint64_t count);
  void* state_;
  uint64_t position_ = 0;
  std::unique_ptr<char[]> read_buffer_;  // allocated on the first file, never zero-filled
};

}  // namespace haul
