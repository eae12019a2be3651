// SPDX-License-Identifier: Apache-2.0
// A file cut into content-defined chunks as it is read: pread through a
// window a few maximum chunks long, so a file of any size costs that window
// of memory. Reads, not a mapping: a file truncated by someone else while
// it is read (dest is live) is then an error, not a SIGBUS.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace haul::delta {

// Calls chunk(offset, data, n) for each chunk of the first `size` bytes of
// fd in order; data is valid during the call. Throws haul::Error naming
// path when the file cannot be read or ends early.
void for_each_file_chunk(int fd, uint64_t size, const std::string& path,
                         const std::function<void(uint64_t offset, const uint8_t* data, size_t n)>& chunk);

}  // namespace haul::delta
