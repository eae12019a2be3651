// SPDX-License-Identifier: Apache-2.0
#include "util/content_hash.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>
// The library picks SSE2, AVX2 or AVX-512 at run time (1.5x on AVX2 hosts).
#include <xxh_x86dispatch.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>

#include "util/error.hpp"

namespace haul {

namespace {
XXH3_state_t* state_of(void* p) { return static_cast<XXH3_state_t*>(p); }
}  // namespace

ContentHash::ContentHash() : state_(XXH3_createState()) {
  if (!state_) throw std::bad_alloc();
  XXH3_128bits_reset(state_of(state_));
}

void ContentHash::reset() {
  XXH3_128bits_reset(state_of(state_));
  position_ = 0;
}

ContentHash::~ContentHash() { XXH3_freeState(state_of(state_)); }

void ContentHash::update(const void* data, size_t len) {
  XXH3_128bits_update(state_of(state_), data, len);
  position_ += len;
}

void ContentHash::zeros(uint64_t count) {
  static const char kZeros[64 * 1024] = {};
  while (count > 0) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(count, sizeof kZeros));
    update(kZeros, n);
    count -= n;
  }
}

void ContentHash::update_at(const void* data, size_t len, uint64_t offset) {
  if (offset > position_) zeros(offset - position_);
  update(data, len);
}

ContentDigest ContentHash::digest(uint64_t size) {
  if (size > position_) zeros(size - position_);
  const XXH128_hash_t h = XXH3_128bits_digest(state_of(state_));
  static constexpr char kHex[] = "0123456789abcdef";
  ContentDigest out;
  for (int i = 0; i < 16; ++i) {
    out.hex[i] = kHex[(h.high64 >> (60 - 4 * i)) & 15];
    out.hex[16 + i] = kHex[(h.low64 >> (60 - 4 * i)) & 15];
  }
  return out;
}

ContentDigest ContentHash::digest_of_file(const std::filesystem::path& path) {
  constexpr size_t kReadBytes = 256 << 10;
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) throw Error("cannot read " + path.string() + ": " + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  if (!read_buffer_) read_buffer_.reset(new char[kReadBytes]);
  reset();
  while (true) {
    const ssize_t n = read(fd, read_buffer_.get(), kReadBytes);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error("cannot read " + path.string() + ": " + std::strerror(errno));
    }
    if (n == 0) break;
    update(read_buffer_.get(), static_cast<size_t>(n));
  }
  return digest(position_);
}

}  // namespace haul
