// SPDX-License-Identifier: Apache-2.0
// Many small requests through the source plugins at once — a chunked
// release's chunk uploads, `haul gc`'s removals. A plugin instance serves one
// request at a time, so each thread but the first gets its own instances
// (SourceSet::twin); the first error stops the others and is rethrown once
// all have stopped.
#pragma once

#include <cstddef>
#include <functional>

#include "transfer/fetcher.hpp"

namespace haul {

void for_each_with_sources(const SourceSet& sources, size_t count, size_t threads,
                           const std::function<void(const SourceSet&, size_t index)>& job);

}  // namespace haul
