// SPDX-License-Identifier: Apache-2.0
#include "publish/chunked_pack.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <unordered_map>

#include "delta/chunk_name.hpp"
#include "delta/content_chunker.hpp"
#include "delta/file_chunks.hpp"
#include "delta/release_index.hpp"
#include "publish/pack_tree_walk.hpp"
#include "util/digest.hpp"
#include "util/durable_file.hpp"
#include "util/error.hpp"

namespace fs = std::filesystem;

namespace haul {
namespace {

class ChunkStore {
 public:
  ChunkStore(fs::path store, int level) : store_(std::move(store)), level_(level) {}

  // The chunk's index in the release's table; stores it when new.
  uint32_t add(const uint8_t* data, size_t n, delta::ReleaseIndex& index, ChunkedPackResult& r) {
    const delta::ChunkName name = delta::chunk_name_of(data, n);
    const std::string key(reinterpret_cast<const char*>(name.data()), name.size());
    auto [it, fresh] = seen_.emplace(key, static_cast<uint32_t>(index.chunks.size()));
    if (!fresh) return it->second;
    index.chunks.push_back({name, static_cast<uint32_t>(n)});
    ++r.chunks;
    r.chunk_bytes += n;
    const fs::path path = store_ / delta::chunk_key(name);
    std::error_code ec;
    if (fs::exists(path, ec)) return it->second;
    const std::string z = delta::compress_chunk(data, n, level_);
    write_file_durably(path, z);  // a name in the store is trusted: never a torn chunk under it
    ++r.new_chunks;
    r.new_chunk_bytes += z.size();
    return it->second;
  }

 private:
  fs::path store_;
  int level_;
  std::unordered_map<std::string, uint32_t> seen_;
};

}  // namespace

ChunkedPackResult pack_chunked(const PackOptions& o, const fs::path& store, int chunk_level) {
  if (o.output.empty()) throw Error("haul pack --chunked needs an output file for the index (-o FILE)");
  ChunkedPackResult r;
  PackTree tree = walk_pack_tree(o);
  r.tree.skipped = std::move(tree.skipped);
  delta::ReleaseIndex index;
  // The index says where its chunks are, relative to itself, so the pair can
  // be copied or uploaded together anywhere.
  const fs::path index_dir = fs::absolute(o.output).parent_path();
  std::string relative = fs::absolute(store).lexically_normal().lexically_relative(index_dir.lexically_normal()).generic_string();
  while (!relative.empty() && relative.back() == '/') relative.pop_back();
  index.chunk_store = relative == "." ? "" : relative;
  ChunkStore chunks(store, chunk_level);
  std::map<std::pair<dev_t, ino_t>, std::string> first_link;
  for (const PackEntry& e : tree.entries) {
    delta::IndexEntry ie;
    ie.path = e.rel;
    ie.mode = e.st.st_mode & 07777;
    ie.mtime = e.mtime;
    if (S_ISDIR(e.st.st_mode)) {
      ie.type = delta::EntryType::dir;
      ++r.tree.dirs;
    } else if (S_ISLNK(e.st.st_mode)) {
      std::error_code ec;
      ie.type = delta::EntryType::symlink;
      ie.target = fs::read_symlink(e.abs, ec).string();
      if (ec) throw Error("cannot read symlink " + e.abs.string() + ": " + ec.message());
      ++r.tree.symlinks;
    } else if (!e.extra && e.st.st_nlink > 1 &&
               !first_link.emplace(std::make_pair(e.st.st_dev, e.st.st_ino), e.rel).second) {
      ie.type = delta::EntryType::hardlink;
      ie.target = first_link[{e.st.st_dev, e.st.st_ino}];
      ++r.tree.hardlinks;
    } else {
      ie.type = delta::EntryType::file;
      ie.size = static_cast<uint64_t>(e.st.st_size);
      auto add = [&](uint64_t, const uint8_t* data, size_t n) { ie.chunks.push_back(chunks.add(data, n, index, r)); };
      if (e.extra) {
        const auto* data = reinterpret_cast<const uint8_t*>(e.extra->content.data());
        for (uint64_t at = 0; at < ie.size;) {
          const size_t n = delta::chunk_length(data + at, ie.size - at);
          add(at, data + at, n);
          at += n;
        }
      } else {
        const int fd = open(e.abs.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) throw Error("cannot read " + e.abs.string() + ": " + std::strerror(errno));
        try {
          delta::for_each_file_chunk(fd, ie.size, e.abs.string(), add);
        } catch (...) {
          close(fd);
          throw;
        }
        close(fd);
      }
      r.tree.bytes_in += ie.size;
      ++r.tree.files;
      if (o.progress) o.progress(r.tree.bytes_in, r.new_chunk_bytes);
    }
    index.entries.push_back(std::move(ie));
  }
  const std::string encoded = delta::encode_index(index);
  write_file_durably(o.output, encoded);
  r.tree.bytes_out = encoded.size();
  r.tree.sha256 = sha256_hex(encoded);
  return r;
}

}  // namespace haul
