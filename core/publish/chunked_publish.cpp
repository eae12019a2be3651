#include "publish/chunked_publish.hpp"

#include <zstd.h>

#include <atomic>
#include <fstream>
#include <optional>
#include <set>
#include <vector>

#include "config/manifest.hpp"
#include "delta/chunk_name.hpp"
#include "delta/release_index.hpp"
#include "deploy/parallel_sources.hpp"
#include "util/durable_file.hpp"
#include "util/error.hpp"
#include "util/units.hpp"

namespace fs = std::filesystem;

namespace haul {
namespace {

constexpr size_t kUploadWorkers = 8;

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
  return delta::is_index_payload(out, o.pos);
}

std::string key_of(const delta::ChunkName& name) { return std::string(name.begin(), name.end()); }

// The chunks of the release a published manifest names, when its src is an
// index whose chunks live in store_url; nothing when it cannot tell.
void add_held_chunks(const std::string& manifest_url, const std::string& store_url, const SourceSet& sources,
                     std::set<std::string>& held, const PublishLog& log) {
  StopSignal never;
  DeployLog quiet("publish");
  FetchPolicy once;
  std::string text;
  try {
    text = fetch_text(sources, manifest_url, once, never, quiet);
  } catch (const std::exception&) {
    return;  // not published yet
  }
  try {
    const Manifest m = parse_published_manifest(text, manifest_url);
    if (m.src.empty()) return;
    std::string bytes;
    std::optional<bool> index_like;
    constexpr size_t kMaxIndex = 256 << 20;
    fetch_stream(sources, m.src, once, never, quiet, [&](const void* d, size_t n) {
      bytes.append(static_cast<const char*>(d), n);
      // A tarball is not read to its end: its first bytes tell.
      if (!index_like) index_like = starts_like_index(bytes);
      return index_like.value_or(true) && bytes.size() <= kMaxIndex;
    });
    if (!index_like.value_or(false)) return;
    const delta::ReleaseIndex index = delta::decode_index(bytes, m.src);
    if (delta::chunk_store_url(m.src, index.chunk_store) != store_url) return;
    for (const auto& c : index.chunks) held.insert(key_of(c.name));
    log("the store holds the " + count_of(index.chunks.size(), "chunk", "chunks") + " of " + m.src + " (named by " +
        manifest_url + ")");
  } catch (const std::exception& e) {
    log("cannot tell which chunks " + manifest_url + "'s release holds (" + e.what() + "); uploading them all");
  }
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
                                     const std::vector<std::string>& held_from, const SourceSet& sources,
                                     const fs::path& scratch, const PublishLog& log) {
  delta::ReleaseIndex index = delta::decode_index(read_whole(index_path), index_path.string());
  if (index.chunk_store.find("://") != std::string::npos)
    throw Error(index_path.string() + ": its chunks are at " + index.chunk_store +
                ", not on this machine; haul publish uploads chunks from the store haul pack --chunked wrote");
  const fs::path local_store = (fs::absolute(index_path).parent_path() / index.chunk_store).lexically_normal();

  std::set<std::string> held;
  for (const auto& url : held_from) add_held_chunks(url, store_url, sources, held, log);

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
  out.index_file = scratch / index_path.filename();
  write_file_durably(out.index_file, delta::encode_index(index));
  log("uploaded " + count_of(out.uploaded, "chunk", "chunks") + " (" + format_bytes(out.uploaded_bytes) + ")");
  return out;
}

}  // namespace haul
