// SPDX-License-Identifier: Apache-2.0
// The artifact stage: the manifest's src streamed once — the fetch thread
// hashes and queues the bytes, gzip and zstd decompress on a thread of
// their own, the consumer (the extractor, or the planner) reads the tar —
// and the checksum verified at the end. A transfer that completed with other
// bytes than the checksum's (a truncating proxy) or an object that changed
// mid-way starts over from zero into a clean staging folder.
#pragma once

#include <filesystem>
#include <functional>

#include "deploy/deploy_context.hpp"
#include "delta/dest_stamps.hpp"
#include "extract/extractor.hpp"

namespace haul {

// consume's error is reported after the checksum: a corrupt download reads
// as a checksum mismatch, not as a broken archive.
void stream_artifact(DeployContext& ctx, const std::function<void(const ChunkReader&)>& consume);

// Extracts src into staging (empty) with the pipeline's limits, within the
// retry budget; options' record, kept and tree start over for each attempt.
// stamps: the rsync strategy's, for a chunked release: the last deploy's
// stamps spare reading dest's unchanged files, and this one's are gathered.
ExtractStats fetch_and_extract(DeployContext& ctx, const std::filesystem::path& staging, ExtractOptions options,
                               DestStampsWriter* stamps = nullptr);

}  // namespace haul
