// SPDX-License-Identifier: Apache-2.0
// Many relative paths held compactly — a Rails tree has 44k — for the kept
// index and the disk writer's pending folders: 64 KiB blocks, so growing
// never copies and never doubles the peak, as one growing buffer (or a
// std::string per path, with its allocation and header) would.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

namespace haul {

class PathArena {
 public:
  struct Ref {
    uint32_t block, offset, length;
  };
  Ref add(std::string_view path);
  std::string_view get(const Ref& ref) const { return {blocks_[ref.block].get() + ref.offset, ref.length}; }
  void clear();

 private:
  static constexpr uint32_t kBlockBytes = 64 << 10;
  std::vector<std::unique_ptr<char[]>> blocks_;
  uint32_t used_ = kBlockBytes;  // of the last block
};

}  // namespace haul
