// SPDX-License-Identifier: Apache-2.0
#include "deploy/index_assembly.hpp"

#include <algorithm>
#include <atomic>
#include <exception>

#include "delta/chunk_feed.hpp"
#include "delta/chunk_name.hpp"
#include "delta/index_tar_writer.hpp"
#include "transfer/byte_pipe.hpp"
#include "delta/stamped_files.hpp"
#include "delta/store_chunks.hpp"
#include "transfer/fetcher.hpp"
#include "delta/index_chain.hpp"
#include "util/beside_dest.hpp"
#include "util/error.hpp"
#include "util/joining_thread.hpp"
#include "util/units.hpp"

namespace haul {
namespace fs = std::filesystem;

namespace {

// Enough to keep a few round trips in flight per core without flooding a store.
constexpr size_t kFetchWorkers = 8;

// Where the indexes deployed to this dest are kept, for the next release's
// delta: with the release strategy's own state, else beside dest like its
// journal.
fs::path index_cache_dir(const Manifest& m) {
  if (m.sync_strategy == SyncStrategy::release) return fs::path(m.dest) / ".haul" / "indexes";
  return beside_dest(m.dest, "indexes");
}

}  // namespace

ExtractStats assemble_from_index(DeployContext& ctx, const std::string& fetched, const fs::path& staging,
                                 const ExtractOptions& options, const StagingExtras& extras) {
  const std::string& src = ctx.manifest.src;
  delta::IndexLimits limits;
  limits.max_entries = ctx.options.max_entries;
  IndexChain chain(ctx.sources, ctx.fetch_policy(), ctx.abort, ctx.log, index_cache_dir(ctx.manifest));
  const ResolvedIndex resolved = chain.resolve(fetched, src, limits.max_decoded_bytes);
  ctx.bytes_fetched += resolved.bytes_fetched;
  if (!resolved.bases.empty())
    ctx.log.info("Fetched " + count_of(resolved.bases.size(), "base index", "base indexes") + ": " +
                 format_bytes(resolved.bytes_fetched));
  const delta::ReleaseIndex index = delta::decode_index_payload(resolved.payload, src, limits);
  uint64_t total = 0;
  for (const auto& e : index.entries) total += e.size;
  if (total > ctx.options.max_extract_bytes)
    throw Error("release index " + src + ": its files hold " + format_bytes(total) +
                ", more than deploy.max_extract_bytes (" + format_bytes(ctx.options.max_extract_bytes) + ")");
  if (extras.room) extras.room->release_size(total);
  const std::string store = delta::chunk_store_url(src, index.chunk_store);
  ctx.log.info("Release index " + src + ": " + count_of(index.entries.size(), "entry", "entries") + ", " +
               count_of(index.chunks.size(), "chunk", "chunks") + " (" + format_bytes(total) + ") from " + store);

  // Files dest's copy still holds since the last deploy stamped them are
  // left out of the stream unread; the feed's workers ask.
  StampedFiles stamped(index, options, extras.stamps);
  if (!stamped.stamps_unusable().empty())
    ctx.log.info("Dest's stamps " + DestStamps::beside(options.quick_check_dest).string() + " not used: " +
                 stamped.stamps_unusable() + "; every file dest holds is read once");
  delta::FeedOptions feed_options;
  feed_options.leave_out = stamped.leave_out();
  for (const fs::path& root : {options.quick_check_dest, options.reuse_dir})
    if (!root.empty()) feed_options.local_roots.push_back(root);
  feed_options.workers = kFetchWorkers;
  StoreChunks store_chunks(index, src, resolved.payload, store, ctx.sources, feed_options.workers, ctx.fetch_policy(),
                           ctx.abort, ctx.log);
  delta::ChunkFeed feed(index, feed_options,
                        [&](size_t worker, const std::vector<const delta::Chunk*>& chunks, StopSignal& stop) {
                          return store_chunks.fetch(worker, chunks, stop);
                        });

  struct Relay {  // an abort stops the fetches at once
    StopSignal& abort;
    int id;
    ~Relay() { abort.unlisten(id); }
  } relay{ctx.abort, ctx.abort.listen([&feed] { feed.cancel(); })};

  BytePipe pipe;
  std::exception_ptr writer_error;
  std::atomic<bool> cancelled{false};
  bool writer_failed_first = false;  // not because the extraction failed and cancelled it
  JoiningThread writer([&] {
    try {
      delta::write_index_as_tar(index, src, [&] { return feed.next(); },
                                [&](const void* d, size_t n) { return pipe.push(d, n); },
                                [&](size_t entry) { stamped.left_out(entry); });
      pipe.close_write();
    } catch (const std::exception& e) {
      writer_error = std::current_exception();
      writer_failed_first = !cancelled;
      pipe.close_write(e.what());
    }
  });
  writer.unblock_with([&] {  // an early exit: the writer may wait on the feed or the pipe
    feed.cancel();
    pipe.close_read();
  });
  ChunkReader reader = [&] { return pipe.read(); };
  ExtractOptions extract = options;
  extract.kept_unread = stamped.unread();
  extract.sinks.push_back(&stamped);
  if (!options.quick_check_dest.empty())  // dest is the feed's first local root
    extract.known_same_as_dest = [&](std::string_view rel) -> const InodeStamp* {
      const auto it = std::lower_bound(index.entries.begin(), index.entries.end(), rel,
                                       [](const delta::IndexEntry& e, std::string_view p) { return e.path < p; });
      if (it == index.entries.end() || it->path != rel) return nullptr;
      return feed.same_as_first_root(static_cast<size_t>(it - index.entries.begin()));
    };
  ExtractStats stats;
  std::exception_ptr extract_error;
  try {
    stats = extract_archive(reader, staging, src, extract);
  } catch (...) {
    extract_error = std::current_exception();
  }
  if (extract_error) {
    cancelled = true;
    feed.cancel();
    stamped.extraction_failed(extract_error);
  }
  pipe.close_read();
  writer.join();
  const uint64_t stored_bytes = store_chunks.bytes_transferred();
  ctx.bytes_fetched += stored_bytes;
  // A chunk that failed its check is the cause of what the extractor then saw.
  if (ctx.abort.raised() && (writer_error || extract_error))
    throw Error("assembling " + src + " stopped: haul is stopping or the deploy timed out");
  if (writer_failed_first) std::rethrow_exception(writer_error);
  if (extract_error) std::rethrow_exception(extract_error);
  if (writer_error) std::rethrow_exception(writer_error);
  chain.remember(resolved.payload);
  if (stamped.unread_count() > 0)
    ctx.log.info(count_of(stamped.unread_count(), "file", "files") + " unchanged in dest since the last deploy stamped them: not read");
  const delta::FeedStats fed = feed.stats();
  ctx.log.info("Assembled " + src + ": " + count_of(fed.local_chunks, "chunk", "chunks") + " (" +
               format_bytes(fed.local_bytes) + ") from files this machine holds, " +
               count_of(fed.fetched_chunks, "chunk", "chunks") + " (" + format_bytes(fed.fetched_bytes) + ", " +
               format_bytes(stored_bytes) + " transferred in " + count_of(store_chunks.requests(), "request", "requests") +
               (store_chunks.packed_chunks() ? "; " + std::to_string(store_chunks.packed_chunks()) + " read from packs" : "") +
               ") from the store");
  return stats;
}

}  // namespace haul
