// SPDX-License-Identifier: Apache-2.0
#include "util/path_arena.hpp"

#include <cstring>

#include "util/error.hpp"

namespace haul {

PathArena::Ref PathArena::add(std::string_view path) {
  if (path.size() > kBlockBytes) throw Error("path longer than 64 KiB: " + std::string(path.substr(0, 200)) + "...");
  if (blocks_.empty() || kBlockBytes - used_ < path.size()) {
    blocks_.emplace_back(new char[kBlockBytes]);
    used_ = 0;
  }
  const Ref ref{static_cast<uint32_t>(blocks_.size() - 1), used_, static_cast<uint32_t>(path.size())};
  std::memcpy(blocks_.back().get() + used_, path.data(), path.size());
  used_ += static_cast<uint32_t>(path.size());
  return ref;
}

void PathArena::clear() {
  blocks_.clear();
  used_ = kBlockBytes;
}

}  // namespace haul
