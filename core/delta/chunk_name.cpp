// SPDX-License-Identifier: Apache-2.0
#include "delta/chunk_name.hpp"

#include <openssl/evp.h>
#include <zstd.h>

#include <memory>

#include "util/error.hpp"

namespace haul::delta {

ChunkName chunk_name_of(const void* data, size_t n) {
  ChunkName name{};
  unsigned int len = 0;
  if (EVP_Digest(data, n, name.data(), &len, EVP_sha256(), nullptr) != 1 || len != name.size())
    throw Error("SHA-256 failed");
  return name;
}

std::string chunk_list_digest(const ReleaseIndex& index, const IndexEntry& entry) {
  // Most files are one chunk: its name is the file's hash already.
  if (entry.chunks.size() == 1) return hex(index.chunks[entry.chunks[0]].name);
  std::string names = "haul chunk list\n";  // never the bytes of a one-chunk file of the same size
  names.reserve(names.size() + entry.chunks.size() * sizeof(ChunkName));
  for (const uint32_t c : entry.chunks) names.append(reinterpret_cast<const char*>(index.chunks[c].name.data()), sizeof(ChunkName));
  return hex(chunk_name_of(names.data(), names.size()));
}

std::string chunk_key(const ChunkName& name) {
  const std::string h = hex(name);
  return "chunks/" + h.substr(0, 2) + "/" + h + ".zst";
}

namespace {

// rel resolved against index_url's folder, ending in '/' (or rel itself when
// it is a URL); `what` names it in the error for a path above the root.
std::string relative_to_index(const std::string& index_url, const std::string& rel, const char* what) {
  if (rel.find("://") != std::string::npos) return rel;
  const size_t scheme = index_url.find("://");
  // The root: after "scheme://authority" (file:///x has an empty authority).
  const size_t root = scheme == std::string::npos ? 0 : index_url.find('/', scheme + 3);
  std::string url = index_url.substr(0, index_url.find_first_of("?#"));
  url = url.substr(0, url.rfind('/') + 1);  // the index's folder
  size_t start = 0;
  while (start < rel.size()) {
    size_t slash = rel.find('/', start);
    if (slash == std::string::npos) slash = rel.size();
    const std::string part = rel.substr(start, slash - start);
    start = slash + 1;
    if (part.empty() || part == ".") continue;
    if (part != "..") {
      url += part + "/";
      continue;
    }
    const size_t up = url.rfind('/', url.size() - 2);
    if (root == std::string::npos || up == std::string::npos || up < root)
      throw Error("release index " + index_url + ": its " + what + " '" + rel + "' is above the URL's root");
    url.resize(up + 1);
  }
  return url;
}

}  // namespace

std::string chunk_store_url(const std::string& index_url, const std::string& store) {
  std::string url = relative_to_index(index_url, store, "chunk store");
  if (url.empty() || url.back() != '/') url += '/';
  return url;
}

std::string index_base_url(const std::string& index_url, const std::string& location) {
  if (location.find("://") != std::string::npos) return location;
  std::string url = relative_to_index(index_url, location, "base index");
  if (url.back() == '/' && url.size() > 1) url.pop_back();
  return url;
}

std::string compress_chunk(const void* data, size_t n, int level) {
  std::string z(ZSTD_compressBound(n), '\0');
  const size_t zn = ZSTD_compress(z.data(), z.size(), data, n, level);
  if (ZSTD_isError(zn)) throw Error(std::string("zstd: ") + ZSTD_getErrorName(zn));
  z.resize(zn);
  return z;
}

std::string decompress_chunk(std::string_view stored, const Chunk& expected, const std::string& origin) {
  auto refuse = [&](const std::string& why) {
    return Error("chunk " + origin + ": " + why + "; expected the " + std::to_string(expected.size) +
                     " bytes named " + hex(expected.name),
                 Error::Kind::checksum_mismatch);
  };
  // The frame states its size: anything but the index's is refused before
  // a byte is decompressed (a bomb, or another chunk).
  const unsigned long long declared = ZSTD_getFrameContentSize(stored.data(), stored.size());
  if (declared == ZSTD_CONTENTSIZE_ERROR) throw refuse("not a zstd frame");
  if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != expected.size)
    throw refuse("holds " + std::to_string(declared) + " bytes");
  std::string out(expected.size, '\0');
  // One context per thread: ZSTD_decompress would make and free one per chunk.
  thread_local std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> dctx(ZSTD_createDCtx(), &ZSTD_freeDCtx);
  if (!dctx) throw refuse("zstd cannot start");
  const size_t n = ZSTD_decompressDCtx(dctx.get(), out.data(), out.size(), stored.data(), stored.size());
  if (ZSTD_isError(n)) throw refuse(std::string("cannot be decompressed (") + ZSTD_getErrorName(n) + ")");
  if (n != expected.size) throw refuse("holds " + std::to_string(n) + " bytes");
  if (chunk_name_of(out.data(), out.size()) != expected.name) throw refuse("its bytes do not hash to its name");
  return out;
}

}  // namespace haul::delta
