#include "publish/chunked_publish.hpp"

#include <zstd.h>

#include <atomic>
#include <fstream>
#include <optional>
#include <set>
#include <vector>

#include "config/manifest.hpp"
#include "delta/chunk_name.hpp"
#include "delta/index_delta.hpp"
#include "delta/release_index.hpp"
#include "deploy/index_chain.hpp"
#include "deploy/parallel_sources.hpp"
#include "util/durable_file.hpp"
#include "util/error.hpp"
#include "util/units.hpp"

namespace fs = std::filesystem;

namespace haul {
namespace {

constexpr size_t kUploadWorkers = 8;
constexpr size_t kMaxIndex = 256 << 20;
// A new agent fetches the whole chain: past this many deltas, the index
// is published whole again.
constexpr uint32_t kMaxPublishedDepth = 8;

std::string read_whole(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read " + path.string());
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Whether zstd-compressed bytes begin with an index's magic; nullopt when
// they end before the first bytes decode.
std::optional<bool> starts_like_index(const std::string& compressed) {
  std::unique_ptr<ZSTD_DStream, decltype(&ZSTD_freeDStream)> ds(ZSTD_createDStream(), &ZSTD_freeDStream);
  char out[64];
  ZSTD_outBuffer o{out, sizeof out, 0};
  ZSTD_inBuffer i{compressed.data(), compressed.size(), 0};
  while (i.pos < i.size && o.pos < 8)
    if (ZSTD_isError(ZSTD_decompressStream(ds.get(), &o, &i))) return false;
  if (o.pos < 8) return std::nullopt;
  return delta::is_index_or_delta_payload(out, o.pos);
}

std::string key_of(const delta::ChunkName& name) { return std::string(name.begin(), name.end()); }

// A chunked release a current manifest names: its chunks are in the store,
// and agents hold its index — the base for the next index's delta.
struct HeldRelease {
  std::string src;
  ResolvedIndex index;
};

// The release a published manifest names, when its src is an index whose
// chunks live in store_url; nothing when it cannot tell.
std::optional<HeldRelease> read_held_release(const std::string& manifest_url, const std::string& store_url,
                                             IndexChain& chain, const SourceSet& sources,
                                             std::set<std::string>& held, const PublishLog& log) {
  StopSignal never;
  DeployLog quiet("publish");
  FetchPolicy once;
  std::string text;
  try {
    text = fetch_text(sources, manifest_url, once, never, quiet);
  } catch (const std::exception&) {
    return std::nullopt;  // not published yet
  }
  try {
    const Manifest m = parse_published_manifest(text, manifest_url);
    if (m.src.empty()) return std::nullopt;
    std::string bytes;
    std::optional<bool> index_like;
    fetch_stream(sources, m.src, once, never, quiet, [&](const void* d, size_t n) {
      bytes.append(static_cast<const char*>(d), n);
      // A tarball is not read to its end: its first bytes tell.
      if (!index_like) index_like = starts_like_index(bytes);
      return index_like.value_or(true) && bytes.size() <= kMaxIndex;
    });
    if (!index_like.value_or(false)) return std::nullopt;
    HeldRelease release{m.src, chain.resolve(delta::decompress_index(bytes, m.src, kMaxIndex), m.src, kMaxIndex)};
    const delta::ReleaseIndex index = delta::decode_index_payload(release.index.payload, m.src);
    if (delta::chunk_store_url(m.src, index.chunk_store) != store_url) return std::nullopt;
    for (const auto& c : index.chunks) held.insert(key_of(c.name));
    log("the store holds the " + count_of(index.chunks.size(), "chunk", "chunks") + " of " + m.src + " (named by " +
        manifest_url + ")");
    return release;
  } catch (const std::exception& e) {
    log("cannot tell which chunks " + manifest_url + "'s release holds (" + e.what() + "); uploading them all");
    return std::nullopt;
  }
}

// Where `base` is, as seen from `index_url`'s folder: relative when both
// are in the store, so a mirrored store still works.
std::string base_location(const std::string& base, const std::string& index_url, const std::string& store_url) {
  if (base.rfind(store_url, 0) != 0 || index_url.rfind(store_url, 0) != 0) return base;
  std::string up;
  const std::string rest = index_url.substr(store_url.size());
  for (char c : rest)
    if (c == '/') up += "../";
  return up + base.substr(store_url.size());
}

// The bytes already published at index_url, when they make the same index
// (publishing a release again): uploading other bytes there would break
// the manifests that name it with their checksum.
std::optional<std::string> same_index_published(const std::string& index_url, const std::string& payload,
                                                IndexChain& chain, const SourceSet& sources) {
  StopSignal never;
  DeployLog quiet("publish");
  std::string bytes;
  try {
    bytes = fetch_text(sources, index_url, FetchPolicy{}, never, quiet, kMaxIndex);
  } catch (const std::exception&) {
    return std::nullopt;  // not there (or unreadable: the upload's own check reports it)
  }
  try {
    if (chain.resolve(delta::decompress_index(bytes, index_url, kMaxIndex), index_url, kMaxIndex).payload == payload)
      return bytes;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

}  // namespace

bool is_release_index_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string head(256 << 10, '\0');  // a zstd block is at most 128 KiB: the first decodes from this
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(in.gcount()));
  return starts_like_index(head).value_or(false);
}

ChunkedPublish upload_release_chunks(const fs::path& index_path, const std::string& store_url,
                                     const std::string& index_url, const std::vector<std::string>& held_from,
                                     const SourceSet& sources, const fs::path& scratch, const PublishLog& log) {
  delta::ReleaseIndex index = delta::decode_index(read_whole(index_path), index_path.string());
  if (index.chunk_store.find("://") != std::string::npos)
    throw Error(index_path.string() + ": its chunks are at " + index.chunk_store +
                ", not on this machine; haul publish uploads chunks from the store haul pack --chunked wrote");
  const fs::path local_store = (fs::absolute(index_path).parent_path() / index.chunk_store).lexically_normal();

  StopSignal never;
  DeployLog quiet("publish");
  IndexChain chain(sources, FetchPolicy{}, never, quiet);
  std::set<std::string> held;
  std::optional<HeldRelease> base;  // what the agents hold: the first release a manifest names
  for (const auto& url : held_from)
    if (auto release = read_held_release(url, store_url, chain, sources, held, log))
      if (!base && release->src != index_url) base = std::move(release);

  ChunkedPublish out;
  out.chunks = index.chunks.size();
  std::vector<const delta::Chunk*> todo;
  for (const auto& c : index.chunks) {
    if (held.count(key_of(c.name))) continue;
    const fs::path file = local_store / delta::chunk_key(c.name);
    std::error_code ec;
    if (!fs::is_regular_file(file, ec))
      throw Error(index_path.string() + " names chunk " + delta::hex(c.name) + ", which is not in its store " +
                  local_store.string() + " (expected " + file.string() + "); pack the release again into that store");
    todo.push_back(&c);
  }
  log("upload " + count_of(todo.size(), "chunk", "chunks") + " of " + std::to_string(out.chunks) + " to " + store_url +
      "chunks/ (" + std::to_string(out.chunks - todo.size()) + " already there)");

  std::atomic<uint64_t> bytes{0};
  for_each_with_sources(sources, todo.size(), kUploadWorkers, [&](const SourceSet& mine, size_t i) {
    const std::string key = delta::chunk_key(todo[i]->name);
    const fs::path file = local_store / key;
    mine.for_url(store_url + key).store(store_url + key, file.string(), "application/zstd");
    bytes += fs::file_size(file);
  });
  out.uploaded = todo.size();
  out.uploaded_bytes = bytes;

  // Published, the index sits one folder below the store: <prefix>/<release>/<name>.
  index.chunk_store = "..";
  const std::string payload = delta::encode_index_payload(index);
  std::string file = delta::encode_index(index);
  if (auto same = same_index_published(index_url, payload, chain, sources)) {
    file = std::move(*same);
  } else if (base && base->index.depth < kMaxPublishedDepth) {
    std::string patch = delta::encode_index_delta(base->index.payload, payload,
                                                  base_location(base->src, index_url, store_url), base->index.depth + 1);
    if (patch.size() < file.size()) {  // a tiny index may be smaller whole
      log("the index goes as a delta of " + base->src + "'s: " + format_bytes(patch.size()) + " (whole, it would be " +
          format_bytes(file.size()) + ")");
      file = std::move(patch);
    }
  } else if (base) {
    log("the index goes whole: " + base->src + " is " + std::to_string(base->index.depth) + " deltas deep");
  }
  out.index_file = scratch / index_path.filename();
  write_file_durably(out.index_file, file);
  log("uploaded " + count_of(out.uploaded, "chunk", "chunks") + " (" + format_bytes(out.uploaded_bytes) + ")");
  return out;
}

}  // namespace haul
