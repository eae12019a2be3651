#include "publish/chunked_pack.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zstd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <unordered_map>

#include "delta/content_chunker.hpp"
#include "delta/release_index.hpp"
#include "publish/pack_tree_walk.hpp"
#include "util/digest.hpp"
#include "util/durable_file.hpp"
#include "util/error.hpp"

namespace fs = std::filesystem;

namespace haul {
namespace {

using delta::ChunkName;

// A file's bytes for the time it is chunked: mapped, so a large file is
// never copied into memory.
class MappedFile {
 public:
  explicit MappedFile(const fs::path& path, uint64_t size) : size_(size) {
    if (size_ == 0) return;
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error("cannot read " + path.string() + ": " + std::strerror(errno));
    void* p = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    const int err = errno;
    close(fd);
    if (p == MAP_FAILED) throw Error("cannot read " + path.string() + ": " + std::strerror(err));
    data_ = static_cast<const uint8_t*>(p);
  }
  ~MappedFile() {
    if (data_) munmap(const_cast<uint8_t*>(data_), size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const uint8_t* data() const { return data_; }

 private:
  const uint8_t* data_ = nullptr;
  uint64_t size_;
};

ChunkName sha256_of(const uint8_t* data, size_t n) {
  ChunkName name{};
  unsigned int len = 0;
  if (EVP_Digest(data, n, name.data(), &len, EVP_sha256(), nullptr) != 1 || len != name.size())
    throw Error("SHA-256 failed");
  return name;
}

class ChunkStore {
 public:
  ChunkStore(fs::path store, int level) : store_(std::move(store)), level_(level) {}

  // The chunk's index in the release's table; stores it when new.
  uint32_t add(const uint8_t* data, size_t n, delta::ReleaseIndex& index, ChunkedPackResult& r) {
    const ChunkName name = sha256_of(data, n);
    const std::string key(reinterpret_cast<const char*>(name.data()), name.size());
    auto [it, fresh] = seen_.emplace(key, static_cast<uint32_t>(index.chunks.size()));
    if (!fresh) return it->second;
    index.chunks.push_back({name, static_cast<uint32_t>(n)});
    ++r.chunks;
    r.chunk_bytes += n;
    const fs::path path = chunk_path(store_, delta::hex(name));
    std::error_code ec;
    if (fs::exists(path, ec)) return it->second;
    std::string z(ZSTD_compressBound(n), '\0');
    const size_t zn = ZSTD_compress(z.data(), z.size(), data, n, level_);
    if (ZSTD_isError(zn)) throw Error(std::string("zstd: ") + ZSTD_getErrorName(zn));
    z.resize(zn);
    write_file_durably(path, z);  // a name in the store is trusted: never a torn chunk under it
    ++r.new_chunks;
    r.new_chunk_bytes += zn;
    return it->second;
  }

 private:
  fs::path store_;
  int level_;
  std::unordered_map<std::string, uint32_t> seen_;
};

}  // namespace

fs::path chunk_path(const fs::path& store, const std::string& hex_name) {
  return store / "chunks" / hex_name.substr(0, 2) / (hex_name + ".zst");
}

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
      std::optional<MappedFile> mapped;
      const uint8_t* data = reinterpret_cast<const uint8_t*>(e.extra ? e.extra->content.data() : nullptr);
      if (!e.extra) {
        mapped.emplace(e.abs, ie.size);
        data = mapped->data();
      }
      for (uint64_t at = 0; at < ie.size;) {
        const size_t n = delta::chunk_length(data + at, ie.size - at);
        ie.chunks.push_back(chunks.add(data + at, n, index, r));
        at += n;
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
