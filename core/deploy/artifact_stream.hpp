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

// Told the sizes of what is being staged as soon as they are known, so a
// deploy that cannot fit stops before it fills the disk (the release
// strategy's room check). Each throws to stop the deploy.
class RoomCheck {
 public:
  virtual ~RoomCheck() = default;
  virtual void artifact_size(uint64_t bytes) const = 0;  // as soon as the source knows it
  virtual void release_size(uint64_t bytes) const = 0;   // a chunked release's, stated by its index
};

// What a placement adds to the stage beyond where and how to extract.
struct StagingExtras {
  // The rsync strategy's, for a chunked release: the last deploy's stamps
  // spare reading dest's unchanged files, and this one's are gathered.
  DestStampsWriter* stamps = nullptr;
  const RoomCheck* room = nullptr;
};

// consume's error is reported after the checksum: a corrupt download reads
// as a checksum mismatch, not as a broken archive.
void stream_artifact(DeployContext& ctx, const std::function<void(const ChunkReader&)>& consume,
                     const RoomCheck* room = nullptr);

// Extracts src into staging (empty) with the pipeline's limits, within the
// retry budget; options' record, kept and tree start over for each attempt.
ExtractStats fetch_and_extract(DeployContext& ctx, const std::filesystem::path& staging, ExtractOptions options,
                               const StagingExtras& extras = {});

}  // namespace haul
