// SPDX-License-Identifier: Apache-2.0
#include "publish/chunked_publish.hpp"

#include <zstd.h>

#include <atomic>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "config/manifest.hpp"
#include "delta/chunk_name.hpp"
#include "delta/index_delta.hpp"
#include "delta/pack_map.hpp"
#include "delta/release_index.hpp"
#include "delta/index_chain.hpp"
#include "transfer/parallel_sources.hpp"
#include "util/digest.hpp"
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

// Where a chunk the store holds is packed: a pack (below the store) and its place in it.
struct Packed {
  std::string pack;
  uint64_t offset;
  uint32_t stored;
};
using PackedChunks = std::map<std::string, Packed>;  // by key_of(chunk name)

// What the pack map beside a held release's index says, added to `packed`;
// nothing when it has none or one that does not fit (its chunks then count
// as loose, and may be packed again).
void read_held_pack_map(const std::string& index_url, const std::string& payload, const delta::ReleaseIndex& index,
                        const SourceSet& sources, PackedChunks& packed) {
  StopSignal never;
  DeployLog quiet("publish");
  std::string bytes;
  try {
    bytes = fetch_text(sources, index_url + ".packs", FetchPolicy{}, never, quiet, 64 << 20);
  } catch (const std::exception&) {
    return;
  }
  try {
    const delta::PackMap map =
        delta::decode_pack_map(bytes, index_url + ".packs", index, delta::chunk_name_of(payload.data(), payload.size()));
    for (size_t i = 0; i < map.chunks.size(); ++i)
      if (const auto& at = map.chunks[i])
        packed.emplace(key_of(index.chunks[i].name), Packed{map.packs[at->pack], at->offset, at->stored});
  } catch (const std::exception&) {
  }
}

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
                                             std::set<std::string>& held, PackedChunks& packed, const PublishLog& log) {
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
    read_held_pack_map(m.src, release.index.payload, index, sources, packed);
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

struct PackWritten {
  std::string key;  // below the store
  fs::path file;
  uint64_t chunks = 0, bytes = 0;
};

// The index's chunks in no pack, back to back in index order, when there
// are pack_min_chunks of them; what it packs is added to `packed`.
PackWritten write_pack(const delta::ReleaseIndex& index, const fs::path& local_store, PackedChunks& packed,
                       uint64_t pack_min_chunks, const fs::path& scratch) {
  std::vector<const delta::Chunk*> unpacked;
  for (const auto& c : index.chunks) {
    std::error_code ec;
    if (!packed.count(key_of(c.name)) && fs::is_regular_file(local_store / delta::chunk_key(c.name), ec))
      unpacked.push_back(&c);
  }
  PackWritten out;
  if (unpacked.size() < pack_min_chunks) return out;
  out.file = scratch / "chunks.pack";
  std::ofstream pack(out.file, std::ios::binary | std::ios::trunc);
  Hasher sha("sha256");
  std::vector<std::pair<const delta::Chunk*, Packed>> placed;
  for (const delta::Chunk* c : unpacked) {
    const std::string stored = read_whole(local_store / delta::chunk_key(c->name));
    placed.push_back({c, Packed{"", out.bytes, static_cast<uint32_t>(stored.size())}});
    pack.write(stored.data(), static_cast<std::streamsize>(stored.size()));
    sha.update(stored.data(), stored.size());
    out.bytes += stored.size();
  }
  pack.close();
  if (!pack) throw Error("cannot write " + out.file.string());
  out.key = delta::pack_key(sha.hex_digest());
  out.chunks = placed.size();
  for (auto& [c, at] : placed) {
    at.pack = out.key;
    packed.emplace(key_of(c->name), at);
  }
  return out;
}

// The pack map of the index whose payload is `payload`; nothing when none of its chunks is packed.
std::optional<std::string> pack_map_of(const delta::ReleaseIndex& index, const std::string& payload,
                                       const PackedChunks& packed) {
  delta::PackMap map;
  map.index_digest = delta::chunk_name_of(payload.data(), payload.size());
  std::map<std::string, uint32_t> pack_no;
  bool any = false;
  for (const auto& c : index.chunks) {
    const auto it = packed.find(key_of(c.name));
    if (it == packed.end()) {
      map.chunks.emplace_back();
      continue;
    }
    auto [p, fresh] = pack_no.emplace(it->second.pack, static_cast<uint32_t>(map.packs.size()));
    if (fresh) map.packs.push_back(it->second.pack);
    map.chunks.push_back(delta::PackedAt{p->second, it->second.offset, it->second.stored});
    any = true;
  }
  if (!any) return std::nullopt;
  return delta::encode_pack_map(map);
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
                                     const SourceSet& sources, const fs::path& scratch, const PublishLog& log,
                                     uint64_t pack_min_chunks) {
  delta::ReleaseIndex index = delta::decode_index(read_whole(index_path), index_path.string());
  if (index.chunk_store.find("://") != std::string::npos)
    throw Error(index_path.string() + ": its chunks are at " + index.chunk_store +
                ", not on this machine; haul publish uploads chunks from the store haul pack --chunked wrote");
  const fs::path local_store = (fs::absolute(index_path).parent_path() / index.chunk_store).lexically_normal();

  StopSignal never;
  DeployLog quiet("publish");
  IndexChain chain(sources, FetchPolicy{}, never, quiet);
  std::set<std::string> held;
  PackedChunks packed;
  std::optional<HeldRelease> base;  // what the agents hold: the first release a manifest names
  for (const auto& url : held_from)
    if (auto release = read_held_release(url, store_url, chain, sources, held, packed, log))
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
  if (pack_min_chunks > 0) {
    const PackWritten pack = write_pack(index, local_store, packed, pack_min_chunks, scratch);
    if (pack.chunks > 0) {
      log("upload a pack of " + count_of(pack.chunks, "chunk", "chunks") + " (" + format_bytes(pack.bytes) + ") to " +
          store_url + pack.key + ": a new server fetches them in a few requests");
      sources.for_url(store_url + pack.key).store(store_url + pack.key, pack.file.string(), "application/octet-stream");
      out.uploaded_bytes += pack.bytes;
    }
  }

  // Published, the index sits one folder below the store: <prefix>/<release>/<name>.
  index.chunk_store = "..";
  const std::string payload = delta::encode_index_payload(index);
  if (const std::optional<std::string> map = pack_map_of(index, payload, packed)) {
    const fs::path map_file = scratch / (index_path.filename().string() + ".packs");
    write_file_durably(map_file, *map);
    sources.for_url(index_url + ".packs").store(index_url + ".packs", map_file.string(), "application/zstd");
    out.uploaded_bytes += map->size();
  }
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
