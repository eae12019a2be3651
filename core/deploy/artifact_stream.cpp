// SPDX-License-Identifier: Apache-2.0
#include "deploy/artifact_stream.hpp"

#include <unistd.h>

#include <algorithm>
#include <memory>
#include <optional>

#include "delta/release_index.hpp"
#include "transfer/byte_pipe.hpp"
#include "transfer/decompress_thread.hpp"
#include "deploy/index_assembly.hpp"
#include "transfer/transfer_progress.hpp"
#include "util/digest.hpp"
#include "util/error.hpp"
#include "util/joining_thread.hpp"
#include "util/units.hpp"

namespace haul {
namespace fs = std::filesystem;

void stream_artifact(DeployContext& ctx, const std::function<void(const ChunkReader&)>& consume,
                     const RoomCheck* room) {
  const std::string& src = ctx.manifest.src;
  Hasher hasher(ctx.manifest.checksum_algorithm());
  BytePipe pipe;
  std::string fetch_error;
  Error::Kind fetch_error_kind = Error::Kind::failed;
  FetchOutcome fetched;
  TransferProgress progress(src, ctx.log, isatty(STDERR_FILENO) != 0);
  JoiningThread fetcher([&] {
    try {
      FetchPolicy policy = ctx.fetch_policy();
      policy.on_total_size = [&](uint64_t total) {
        progress.set_total(total);
        if (room) room->artifact_size(total);
      };
      fetched = fetch_stream(ctx.sources, src, policy, ctx.abort, ctx.log, [&](const void* d, size_t n) {
        hasher.update(d, n);
        progress.add(n);
        return pipe.push(d, n);
      });
      pipe.close_write();
    } catch (const std::exception& e) {
      fetch_error = e.what();
      fetch_error_kind = error_kind(e);
      pipe.close_write(fetch_error);
    }
  });
  fetcher.unblock_with([&] { pipe.close_read(); });  // an early exit: the fetcher may wait for room in the pipe
  ChunkReader raw = [&] { return pipe.read(); };
  std::string consume_error;
  // Declared out here: the decompression thread reads them until stop() below.
  std::pair<const void*, size_t> first{nullptr, 0};
  bool first_taken = false;
  std::unique_ptr<DecompressThread> decompress;
  try {
    // The first chunk decides: gzip and zstd decompress on their own thread.
    first = raw();
    ChunkReader compressed = [&]() -> std::pair<const void*, size_t> {
      if (!first_taken) {
        first_taken = true;
        if (first.second) return first;
      }
      return raw();
    };
    ChunkReader reader = compressed;
    if (const Codec codec = threaded_codec_for(first.first, first.second); codec != Codec::none) {
      decompress = std::make_unique<DecompressThread>(codec, compressed, src, ctx.options.max_compression_ratio);
      reader = [&] { return decompress->next(); };
    }
    consume(reader);
  } catch (const std::exception& e) {
    consume_error = e.what();
  }
  if (decompress) decompress->stop();  // before the drain below: one consumer of the pipe at a time
  // Read to the end either way: the digest must cover every byte, and a
  // corrupt download should be reported as a checksum mismatch.
  while (fetch_error.empty() && !pipe.pop().empty()) {
  }
  pipe.close_read();
  fetcher.join();
  const std::string transferred = progress.finish();
  if (!fetch_error.empty()) throw Error(fetch_error, fetch_error_kind);
  ctx.bytes_fetched = fetched.bytes;
  ctx.log.info("Fetched " + src + ": " + transferred);
  const std::string sum = hasher.hex_digest();
  if (sum != ctx.manifest.checksum)
    throw Error("checksum mismatch for " + src + ": expected " + ctx.manifest.checksum + ", got " + sum + " (" +
                    ctx.manifest.checksum_algorithm() + "); dest left untouched",
                Error::Kind::checksum_mismatch);
  ctx.log.info("Checksum ok: " + sum + " (" + ctx.manifest.checksum_algorithm() + ")");
  if (!consume_error.empty()) throw Error(consume_error);
}

namespace {

ExtractStats extract_once(DeployContext& ctx, const fs::path& staging, ExtractOptions options,
                          const StagingExtras& extras) {
  options.limits.max_bytes = ctx.options.max_extract_bytes;
  options.limits.max_entries = ctx.options.max_entries;
  options.limits.max_ratio = ctx.options.max_compression_ratio;
  options.limits.allow_setuid = ctx.options.allow_setuid;
  options.limits.symlink_target_prefixes = ctx.options.allow_symlink_targets;
  ctx.log.info("Fetching " + ctx.manifest.src + " into " + staging.string());
  ExtractStats stats;
  std::optional<std::string> index;  // a chunked release: assembled once the checksum holds
  stream_artifact(ctx, [&](const ChunkReader& reader) {
    // Enough of the start to tell an index from a tarball.
    std::string head;
    bool ended = false;
    while (head.size() < 8 && !ended) {
      const auto [data, n] = reader();
      ended = n == 0;
      head.append(static_cast<const char*>(data ? data : ""), n);
    }
    if (delta::is_index_or_delta_payload(head.data(), head.size())) {
      index.emplace(std::move(head));
      const uint64_t max = delta::IndexLimits{}.max_decoded_bytes;
      for (auto more = reader(); more.second; more = reader()) {
        if (index->size() + more.second > max)
          throw Error("release index " + ctx.manifest.src + ": decodes to more than " + format_bytes(max) + "; refused");
        index->append(static_cast<const char*>(more.first), more.second);
      }
      return;
    }
    bool replayed = false;
    const ChunkReader replay = [&]() -> std::pair<const void*, size_t> {
      if (!replayed) {
        replayed = true;
        if (!head.empty()) return {head.data(), head.size()};
      }
      if (ended) return {nullptr, 0};
      return reader();
    };
    stats = extract_archive(replay, staging, ctx.manifest.src, options);
  }, extras.room);
  if (index) stats = assemble_from_index(ctx, *index, staging, options, extras);
  ctx.log.info("Extracted " + count_of(stats.entries, "entry", "entries") + " (" + format_bytes(stats.bytes) + ")" +
               (stats.kept_files ? "; " + count_of(stats.kept_files, "file", "files") +
                                       " unchanged in dest (same size, mtime and content) not written"
                                 : "") +
               (stats.rewritten_same_stamp ? "; " + count_of(stats.rewritten_same_stamp, "file", "files") +
                                                 " with dest's size and mtime but new content written"
                                           : ""));
  if (stats.dropped_setuid)
    ctx.log.warn("dropped the setuid/setgid bits of " + std::to_string(stats.dropped_setuid) +
                 " file(s); set deploy.allow_setuid: true to keep them");
  return stats;
}

}  // namespace

ExtractStats fetch_and_extract(DeployContext& ctx, const fs::path& staging, ExtractOptions options,
                               const StagingExtras& extras) {
  DestStampsWriter* const stamps = extras.stamps;
  bool stamps_held = !stamps || stamps->trusted();
  for (int attempt = 0;; ++attempt) {
    try {
      return extract_once(ctx, staging, options, extras);
    } catch (const Error& e) {
      // Only a transfer that ended wrong or an object that changed mid-way
      // is fetched again here; other failures were already retried.
      const bool changed = e.kind() == Error::Kind::source_changed;
      if (e.kind() != Error::Kind::checksum_mismatch && !changed) throw;
      std::error_code ec;
      for (const auto& entry : fs::directory_iterator(staging, ec)) fs::remove_all(entry.path(), ec);
      if (options.record) options.record->clear();
      if (options.kept) options.kept->clear();
      for (EntrySink* sink : options.sinks) sink->restart();
      // A stamp of dest's that did not hold up is no fault of the source:
      // start over at once, reading every file, without spending a retry.
      if (stamps_held && stamps && !stamps->trusted()) {
        stamps_held = false;
        ctx.log.warn(std::string(e.what()) + "; starting over, reading every file dest holds");
        --attempt;
        continue;
      }
      // A changed object is not a fault: it gets one fresh start even with retry 0.
      const int budget = std::max(ctx.options.retry, changed ? 1 : 0);
      if (attempt >= budget) throw;
      ctx.log.warn(std::string(e.what()) + "; fetching the whole artifact again (retry " + std::to_string(attempt + 1) +
                   "/" + std::to_string(std::max(ctx.options.retry, 1)) + ")");
      if (!ctx.abort.sleep_for(ctx.options.retry_wait)) throw;
    }
  }
}

}  // namespace haul
