// SPDX-License-Identifier: Apache-2.0
// The release an index describes, as the tar stream the extractor reads: so
// a chunked release passes through the same gate as a tarball — the entry
// guard (names, links, setuid, limits), dest's quick check, reuse from the
// previous release, the content record — with no second copy of any of it.
// The stream is plain pax, never compressed; it lives only between two
// threads.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "delta/release_index.hpp"

namespace haul::delta {

// Writes every entry in index order; a file's bytes are its chunks, asked of
// next_chunk one by one — the first before the file's header is written.
// A file whose first chunk comes as nullptr is left out of the stream, and
// told to left_out (by entry) instead: the reader learns of it another way.
// out returns false when the reader has gone (the writing then stops
// quietly). Throws haul::Error naming origin.
void write_index_as_tar(const ReleaseIndex& index, const std::string& origin,
                        const std::function<std::shared_ptr<const std::string>()>& next_chunk,
                        const std::function<bool(const void*, size_t)>& out,
                        const std::function<void(size_t entry)>& left_out = {});

}  // namespace haul::delta
