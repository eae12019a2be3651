#include "deploy/index_assembly.hpp"

#include <zstd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <thread>

#include "delta/chunk_feed.hpp"
#include "delta/chunk_name.hpp"
#include "delta/index_tar_writer.hpp"
#include "deploy/byte_pipe.hpp"
#include "deploy/stamped_files.hpp"
#include "deploy/fetcher.hpp"
#include "deploy/index_chain.hpp"
#include "util/beside_dest.hpp"
#include "util/error.hpp"
#include "util/units.hpp"

namespace haul {
namespace fs = std::filesystem;

namespace {

// Enough to keep a few round trips in flight per core without flooding a store.
constexpr size_t kFetchWorkers = 8;

// A worker's own sources, made on its first fetch: a deploy that finds
// every chunk locally opens no connection.
class WorkerSources {
 public:
  WorkerSources(const SourceSet& first, size_t workers) : first_(first), twins_(workers) {}
  const SourceSet& of(size_t worker) {
    if (worker == 0) return first_;
    std::lock_guard<std::mutex> lock(mu_);  // plugin create() is not reentrant
    if (!twins_[worker]) twins_[worker] = std::make_unique<SourceSet>(first_.twin());
    return *twins_[worker];
  }

 private:
  const SourceSet& first_;
  std::mutex mu_;
  std::vector<std::unique_ptr<SourceSet>> twins_;
};

// Where the indexes deployed to this dest are kept, for the next release's
// delta: with the release strategy's own state, else beside dest like its
// journal.
fs::path index_cache_dir(const Manifest& m) {
  if (m.sync_strategy == SyncStrategy::release) return fs::path(m.dest) / ".haul" / "indexes";
  return beside_dest(m.dest, "indexes");
}

}  // namespace

ExtractStats assemble_from_index(DeployContext& ctx, const std::string& fetched, const fs::path& staging,
                                 const ExtractOptions& options) {
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
  if (ctx.on_release_size) ctx.on_release_size(total);
  const std::string store = delta::chunk_store_url(src, index.chunk_store);
  ctx.log.info("Release index " + src + ": " + count_of(index.entries.size(), "entry", "entries") + ", " +
               count_of(index.chunks.size(), "chunk", "chunks") + " (" + format_bytes(total) + ") from " + store);

  // Files dest's copy still holds since the last deploy stamped them are
  // left out of the stream unread; the feed's workers ask.
  StampedFiles stamped(index, options);
  delta::FeedOptions feed_options;
  feed_options.leave_out = stamped.leave_out();
  for (const fs::path& root : {options.quick_check_dest, options.reuse_dir})
    if (!root.empty()) feed_options.local_roots.push_back(root);
  feed_options.workers = kFetchWorkers;
  WorkerSources sources(ctx.sources, feed_options.workers);
  std::atomic<uint64_t> stored_bytes{0};
  FetchPolicy policy = ctx.fetch_policy();
  // --max-bandwidth caps the deploy, not each of the 8 fetches at once: the
  // chunks are paced together, from the first one on.
  const uint64_t rate = policy.max_bandwidth_bytes_per_s;
  policy.max_bandwidth_bytes_per_s = 0;
  const auto started = std::chrono::steady_clock::now();
  delta::ChunkFeed feed(index, feed_options, [&](size_t worker, const delta::Chunk& chunk, StopSignal& stop) {
    const std::string url = store + delta::chunk_key(chunk.name);
    const size_t bound = ZSTD_compressBound(chunk.size) + 64;
    std::string stored;
    bool too_big = false;  // the sink runs inside the plugin's C frames: it stops, it does not throw
    fetch_stream(sources.of(worker), url, policy, stop, ctx.log, [&](const void* data, size_t n) {
      too_big = stored.size() + n > bound;
      if (!too_big) stored.append(static_cast<const char*>(data), n);
      return !too_big;
    });
    if (too_big)
      throw Error("chunk " + url + ": more than the " + std::to_string(bound) + " bytes a stored " +
                      std::to_string(chunk.size) + "-byte chunk can take",
                  Error::Kind::checksum_mismatch);
    if (stop.raised()) throw Error("stopped while fetching " + url);
    const uint64_t so_far = stored_bytes += stored.size();
    if (rate > 0) {
      const auto due = started + std::chrono::microseconds(static_cast<int64_t>(1e6 * static_cast<double>(so_far) / rate));
      const auto now = std::chrono::steady_clock::now();
      if (due > now && !stop.sleep_for(std::chrono::duration_cast<std::chrono::milliseconds>(due - now)))
        throw Error("stopped while fetching " + url);
    }
    return delta::decompress_chunk(stored, chunk, url);
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
  std::thread writer([&] {
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
  ChunkReader reader = [&] { return pipe.read(); };
  ExtractOptions extract = options;
  extract.kept_unread = stamped.unread();
  extract.on_file_recorded = stamped.on_file_recorded();
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
               format_bytes(stored_bytes) + " transferred) from the store");
  return stats;
}

}  // namespace haul
