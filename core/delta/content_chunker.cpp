// SPDX-License-Identifier: Apache-2.0
#include "delta/content_chunker.hpp"

#include <algorithm>
#include <array>

namespace haul::delta {
namespace {

// 256 pseudo-random 64-bit values, from splitmix64 with a fixed seed.
const std::array<uint64_t, 256>& gear() {
  static const std::array<uint64_t, 256> table = [] {
    std::array<uint64_t, 256> t{};
    uint64_t x = 0x6a09e667f3bcc908ull;  // the first 64 bits of SHA-512's IV: nothing up the sleeve
    for (auto& v : t) {
      uint64_t z = (x += 0x9e3779b97f4a7c15ull);
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      v = z ^ (z >> 31);
    }
    return t;
  }();
  return table;
}

// The gear hash's high bits depend on the last 64 bytes, so the masks test
// those: 2 bits more than log2(avg) before avg (cuts rarer), 2 fewer after.
constexpr uint64_t high_bits(int n) { return n == 0 ? 0 : ~0ull << (64 - n); }

int log2_of(uint32_t v) {
  int n = 0;
  while (v > 1) {
    v >>= 1;
    ++n;
  }
  return n;
}

}  // namespace

size_t chunk_length(const uint8_t* data, size_t n, const ChunkSizes& sizes) {
  if (n <= sizes.min) return n;
  const size_t end = std::min<size_t>(n, sizes.max);
  const size_t normal = std::min<size_t>(end, sizes.avg);
  const int bits = log2_of(sizes.avg);
  const uint64_t harder = high_bits(bits + 2), easier = high_bits(bits - 2);
  const auto& g = gear();
  uint64_t h = 0;
  size_t i = sizes.min;
  for (; i < normal; ++i) {
    h = (h << 1) + g[data[i]];
    if (!(h & harder)) return i + 1;
  }
  for (; i < end; ++i) {
    h = (h << 1) + g[data[i]];
    if (!(h & easier)) return i + 1;
  }
  return end;
}

}  // namespace haul::delta
