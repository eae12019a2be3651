// SPDX-License-Identifier: Apache-2.0
// The artifact stage for a chunked release (delta releases): the manifest's
// src is a release index, fetched and checked against the checksum like a
// tarball. The release is then assembled from chunks — those this machine
// holds in dest or the previous release, the rest fetched from the chunk
// store the index names, several at once, each verified against its name —
// and extracted as the tar stream it describes, so everything after
// (entry guard, quick check, reuse, records, placing, hooks) is the
// tarball's path unchanged.
#pragma once

#include <filesystem>
#include <string>

#include "deploy/artifact_stream.hpp"

namespace haul {

// fetched: the index (or a delta of one, index_chain.hpp), decompressed.
// staging must be empty.
ExtractStats assemble_from_index(DeployContext& ctx, const std::string& fetched, const std::filesystem::path& staging,
                                 const ExtractOptions& options, const StagingExtras& extras);

}  // namespace haul
