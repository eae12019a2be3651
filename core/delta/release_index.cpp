// SPDX-License-Identifier: Apache-2.0
#include "delta/release_index.hpp"

#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "delta/index_delta.hpp"
#include "delta/varint_reader.hpp"
#include "util/error.hpp"

namespace haul::delta {
namespace {

const char kMagic[] = "HAULIDX1";
constexpr size_t kMagicLen = sizeof kMagic - 1;


// Why a path cannot be in a release, or "" when it can.
std::string path_problem(std::string_view p, size_t max_len) {
  if (p.empty()) return "an empty path";
  if (p.size() > max_len) return "a path longer than " + std::to_string(max_len) + " bytes";
  if (p.front() == '/') return "an absolute path";
  if (p.find('\0') != std::string_view::npos) return "a NUL byte in the path";
  size_t start = 0;
  while (start <= p.size()) {
    size_t slash = p.find('/', start);
    if (slash == std::string_view::npos) slash = p.size();
    const std::string_view part = p.substr(start, slash - start);
    if (part.empty()) return "an empty path component";
    if (part == "." || part == "..") return "a '" + std::string(part) + "' path component";
    start = slash + 1;
  }
  return "";
}

}  // namespace

std::string decompress_index(const std::string& bytes, const std::string& origin, uint64_t max) {
  return decompress_bounded(bytes, "release index " + origin, max);
}

std::string decompress_bounded(const std::string& bytes, const std::string& subject, uint64_t max) {
  std::unique_ptr<ZSTD_DStream, decltype(&ZSTD_freeDStream)> ds(ZSTD_createDStream(), &ZSTD_freeDStream);
  if (!ds) throw Error(subject + ": cannot start zstd");
  ZSTD_inBuffer in{bytes.data(), bytes.size(), 0};
  std::string out;
  size_t ret = 1;
  while (in.pos < in.size || ret != 0) {
    const size_t before = out.size();
    out.resize(before + (1 << 16));
    ZSTD_outBuffer o{out.data() + before, 1 << 16, 0};
    ret = ZSTD_decompressStream(ds.get(), &o, &in);
    out.resize(before + o.pos);
    if (ZSTD_isError(ret))
      throw Error(subject + ": not zstd-compressed (" + ZSTD_getErrorName(ret) + ")");
    if (out.size() > max)
      throw Error(subject + ": decodes to more than " + std::to_string(max) + " bytes; refused");
    if (o.pos == 0 && in.pos == in.size && ret != 0) throw Error(subject + ": truncated");
  }
  return out;
}

std::string hex(const ChunkName& name) {
  static const char digits[] = "0123456789abcdef";
  std::string out(64, '0');
  for (size_t i = 0; i < name.size(); ++i) {
    out[2 * i] = digits[name[i] >> 4];
    out[2 * i + 1] = digits[name[i] & 15];
  }
  return out;
}

std::string encode_index_payload(const ReleaseIndex& index) {
  std::string raw(kMagic, kMagicLen);
  put_varint(raw, index.chunk_store.size());
  raw += index.chunk_store;
  put_varint(raw, index.chunks.size());
  for (const Chunk& c : index.chunks) {
    raw.append(reinterpret_cast<const char*>(c.name.data()), c.name.size());
    put_varint(raw, c.size);
  }
  put_varint(raw, index.entries.size());
  const std::string* previous = nullptr;
  for (const IndexEntry& e : index.entries) {
    if (previous && !(*previous < e.path))
      throw std::invalid_argument("release index: entries not sorted or not unique at " + e.path);
    size_t shared = 0;
    if (previous)
      while (shared < previous->size() && shared < e.path.size() && (*previous)[shared] == e.path[shared]) ++shared;
    put_varint(raw, shared);
    put_varint(raw, e.path.size() - shared);
    raw.append(e.path, shared, std::string::npos);
    raw.push_back(static_cast<char>(e.type));
    put_varint(raw, e.mode);
    put_varint(raw, zigzag(e.mtime));
    if (e.type == EntryType::file) {
      put_varint(raw, e.size);
      put_varint(raw, e.chunks.size());
      int64_t last = -1;
      for (uint32_t c : e.chunks) {
        if (c >= index.chunks.size()) throw std::invalid_argument("release index: chunk index out of range in " + e.path);
        put_varint(raw, zigzag(static_cast<int64_t>(c) - last));
        last = c;
      }
    } else if (e.type == EntryType::symlink || e.type == EntryType::hardlink) {
      put_varint(raw, e.target.size());
      raw += e.target;
    }
    previous = &e.path;
  }
  return raw;
}

std::string encode_index(const ReleaseIndex& index, int zstd_level) {
  const std::string raw = encode_index_payload(index);
  std::string out(ZSTD_compressBound(raw.size()), '\0');
  const size_t n = ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), zstd_level);
  if (ZSTD_isError(n)) throw std::runtime_error(std::string("release index: zstd: ") + ZSTD_getErrorName(n));
  out.resize(n);
  return out;
}

bool is_index_payload(const void* data, size_t n) {
  return n >= kMagicLen && std::memcmp(data, kMagic, kMagicLen) == 0;
}

bool is_index_or_delta_payload(const void* data, size_t n) {
  return is_index_payload(data, n) || is_index_delta_payload(data, n);
}

ReleaseIndex decode_index(const std::string& bytes, const std::string& origin, const IndexLimits& limits) {
  return decode_index_payload(decompress_index(bytes, origin, limits.max_decoded_bytes), origin, limits);
}

ReleaseIndex decode_index_payload(const std::string& raw, const std::string& origin, const IndexLimits& limits) {
  if (raw.size() > limits.max_decoded_bytes)
    throw Error("release index " + origin + ": decodes to more than " + std::to_string(limits.max_decoded_bytes) +
                " bytes; refused");
  VarintReader r(raw, "release index " + origin);
  if (is_index_delta_payload(raw.data(), raw.size()))
    r.fail("a delta of another index (as haul publish uploads an index), not a whole one; use the index haul pack "
           "--chunked wrote, or deploy this one from the URL it was published at");
  if (r.bytes(std::min(kMagicLen, r.left()), "the header") != std::string(kMagic, kMagicLen))
    r.fail("not a haul release index (version 1)");
  ReleaseIndex index;
  const uint64_t store_len = r.varint("the chunk store");
  if (store_len > limits.max_path) r.fail("a chunk store location of " + std::to_string(store_len) + " bytes");
  index.chunk_store = r.bytes(store_len, "the chunk store");
  for (char c : index.chunk_store)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      r.fail("the chunk store location holds a control character; expected a path or URL");
  const uint64_t nchunks = r.varint("the chunk count");
  // 33 bytes at least per chunk: a count the data cannot hold is refused before allocating.
  if (nchunks > limits.max_chunks || nchunks > r.left() / 33)
    r.fail(std::to_string(nchunks) + " chunks is more than the index holds or allows");
  index.chunks.resize(nchunks);
  for (Chunk& c : index.chunks) {
    const std::string_view name = r.view(32, "a chunk name");
    std::copy(name.begin(), name.end(), c.name.begin());
    const uint64_t size = r.varint("a chunk size");
    if (size == 0 || size > limits.max_chunk_size)
      r.fail("chunk " + hex(c.name) + " has size " + std::to_string(size) + "; expected 1 to " +
             std::to_string(limits.max_chunk_size));
    c.size = static_cast<uint32_t>(size);
  }
  const uint64_t nentries = r.varint("the entry count");
  if (nentries > limits.max_entries || nentries > r.left() / 5)
    r.fail(std::to_string(nentries) + " entries is more than the index holds or allows");
  index.entries.resize(nentries);
  const std::string* previous = nullptr;
  for (IndexEntry& e : index.entries) {
    const uint64_t shared = r.varint("a path");
    const uint64_t suffix = r.varint("a path");
    if (shared > (previous ? previous->size() : 0) || suffix > limits.max_path) r.fail("a path that cannot be decoded");
    e.path.reserve(shared + suffix);
    if (previous) e.path.assign(*previous, 0, shared);
    e.path += r.view(suffix, "a path");
    if (std::string why = path_problem(e.path, limits.max_path); !why.empty())
      r.fail("entry '" + e.path + "': " + why + "; a release's paths stay inside it");
    if (previous && !(*previous < e.path))
      r.fail("entry '" + e.path + "' is " + (*previous == e.path ? "listed twice" : "out of order"));
    const uint8_t type = r.byte("an entry type");
    if (type != 'f' && type != 'd' && type != 'l' && type != 'h')
      r.fail("entry '" + e.path + "' has type " + std::to_string(type) + "; expected f, d, l or h");
    e.type = static_cast<EntryType>(type);
    const uint64_t mode = r.varint("a mode");
    if (mode > 07777) r.fail("entry '" + e.path + "' has mode " + std::to_string(mode) + "; expected permission bits (0 to 07777)");
    e.mode = static_cast<uint32_t>(mode);
    e.mtime = unzigzag(r.varint("an mtime"));
    if (e.type == EntryType::file) {
      e.size = r.varint("a file size");
      if (e.size > limits.max_file_size) r.fail("entry '" + e.path + "' claims " + std::to_string(e.size) + " bytes");
      const uint64_t n = r.varint("a chunk list");
      if (n > r.left() || n > nchunks + e.size) r.fail("entry '" + e.path + "' lists more chunks than the index holds");
      e.chunks.resize(n);
      int64_t last = -1;
      uint64_t sum = 0;
      for (uint32_t& c : e.chunks) {
        // last is -1 or a chunk's number: a step outside this range names no
        // chunk, and checking the step first keeps the sum from overflowing.
        const int64_t step = unzigzag(r.varint("a chunk list"));
        if (step <= -1 - last || step >= static_cast<int64_t>(nchunks) - last)
          r.fail("entry '" + e.path + "' names a chunk the index does not have");
        const int64_t at = last + step;
        c = static_cast<uint32_t>(at);
        sum += index.chunks[c].size;
        last = at;
      }
      if (sum != e.size)
        r.fail("entry '" + e.path + "' is " + std::to_string(e.size) + " bytes but its chunks add up to " + std::to_string(sum));
    } else if (e.type == EntryType::symlink || e.type == EntryType::hardlink) {
      const uint64_t len = r.varint("a link target");
      if (len == 0 || len > limits.max_path) r.fail("entry '" + e.path + "' has a link target of " + std::to_string(len) + " bytes");
      e.target = r.bytes(len, "a link target");
      if (e.target.find('\0') != std::string::npos) r.fail("entry '" + e.path + "': a NUL byte in its link target");
      if (e.type == EntryType::hardlink) {
        // Sorted: an earlier entry is found by bisection among those decoded.
        const auto end = index.entries.begin() + (&e - index.entries.data());
        const auto it = std::lower_bound(index.entries.begin(), end, e.target,
                                         [](const IndexEntry& x, const std::string& p) { return x.path < p; });
        if (it == end || it->path != e.target || it->type != EntryType::file)
          r.fail("hard link '" + e.path + "' names '" + e.target + "', which is not an earlier file of the release");
      }
    }
    previous = &e.path;
  }
  if (!r.done()) r.fail("trailing bytes after the last entry");
  return index;
}

}  // namespace haul::delta
