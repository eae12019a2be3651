// SPDX-License-Identifier: Apache-2.0
// How bytes travel between the stages of a deploy: a pull, one chunk at a
// time, so the fetch, the decompression and the extraction each run at the
// pace of the slowest without holding the artifact in memory.
#pragma once

#include <cstddef>
#include <functional>
#include <utility>

namespace haul {

// Returns the next chunk of the stream; {nullptr, 0} at the end. Throws on a
// failed stream (the message becomes the consumer's error).
using ChunkReader = std::function<std::pair<const void*, size_t>()>;

}  // namespace haul
