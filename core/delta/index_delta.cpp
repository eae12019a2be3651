// SPDX-License-Identifier: Apache-2.0
#include "delta/index_delta.hpp"

#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "util/error.hpp"
#include "delta/chunk_name.hpp"
#include "delta/varint_reader.hpp"

namespace haul::delta {
namespace {

const char kMagic[] = "HAULIDXD";
constexpr size_t kMagicLen = sizeof kMagic - 1;

using CCtx = std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)>;
using DCtx = std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)>;

void check(size_t ret, const char* what) {
  if (ZSTD_isError(ret)) throw std::runtime_error(std::string("index delta: zstd ") + what + ": " + ZSTD_getErrorName(ret));
}

// A window that holds the base and the index: matches reach back into all of it.
int window_log_for(uint64_t bytes) {
  const ZSTD_bounds bounds = ZSTD_cParam_getBounds(ZSTD_c_windowLog);
  int log = std::max(bounds.lowerBound, 10);
  while (log < bounds.upperBound && (1ull << log) < bytes) ++log;
  return log;
}

}  // namespace

bool is_index_delta_payload(const void* data, size_t n) {
  return n >= kMagicLen && std::memcmp(data, kMagic, kMagicLen) == 0;
}

std::string encode_index_delta(const std::string& base, const std::string& index, const std::string& base_location,
                               uint32_t depth) {
  CCtx cctx(ZSTD_createCCtx(), &ZSTD_freeCCtx);
  if (!cctx) throw std::runtime_error("index delta: cannot start zstd");
  check(ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, 19), "level");
  check(ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_windowLog, window_log_for(base.size() + index.size())), "window");
  check(ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_enableLongDistanceMatching, 1), "long matches");
  check(ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_checksumFlag, 1), "checksum");
  check(ZSTD_CCtx_refPrefix(cctx.get(), base.data(), base.size()), "prefix");
  std::string patch(ZSTD_compressBound(index.size()), '\0');
  const size_t n = ZSTD_compress2(cctx.get(), patch.data(), patch.size(), index.data(), index.size());
  check(n, "compress");
  patch.resize(n);

  std::string raw(kMagic, kMagicLen);
  const ChunkName name = chunk_name_of(base.data(), base.size());
  raw.append(reinterpret_cast<const char*>(name.data()), name.size());
  put_varint(raw, base.size());
  put_varint(raw, base_location.size());
  raw += base_location;
  put_varint(raw, depth);
  raw += patch;
  std::string out(ZSTD_compressBound(raw.size()), '\0');  // the patch is dense already: level 1
  const size_t m = ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), 1);
  check(m, "compress");
  out.resize(m);
  return out;
}

IndexDelta read_index_delta(const std::string& payload, const std::string& origin) {
  VarintReader r(payload, "index delta " + origin);
  if (!is_index_delta_payload(payload.data(), payload.size())) r.fail("not a delta of a haul release index");
  r.bytes(kMagicLen, "the header");
  IndexDelta d;
  const std::string base = r.bytes(32, "the base's hash");
  std::copy(base.begin(), base.end(), d.base.begin());
  d.base_size = r.varint("the base's size");
  const uint64_t len = r.varint("the base's location");
  if (len == 0 || len > 4096) r.fail("a base location of " + std::to_string(len) + " bytes; expected 1 to 4096");
  d.base_location = r.bytes(len, "the base's location");
  for (char c : d.base_location)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) r.fail("the base location holds a control character");
  const uint64_t depth = r.varint("the depth");
  if (depth < 1 || depth > kMaxDeltaDepth)
    r.fail("a chain of " + std::to_string(depth) + " deltas; expected 1 to " + std::to_string(kMaxDeltaDepth));
  d.depth = static_cast<uint32_t>(depth);
  d.patch = r.bytes(r.left(), "the patch");
  return d;
}

std::string apply_index_delta(const IndexDelta& delta, const std::string& base, const std::string& origin,
                              uint64_t max) {
  const std::string where = "index delta " + origin + ": ";
  if (base.size() != delta.base_size || chunk_name_of(base.data(), base.size()) != delta.base)
    throw Error(where + "its base " + delta.base_location + " is not the index it was made against (expected sha256 " +
                    hex(delta.base) + ", " + std::to_string(delta.base_size) + " bytes)",
                Error::Kind::checksum_mismatch);
  const unsigned long long size = ZSTD_getFrameContentSize(delta.patch.data(), delta.patch.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN)
    throw Error(where + "its patch is not a zstd frame that states its size");
  if (size > max) throw Error(where + "makes an index of " + std::to_string(size) + " bytes; refused (at most " + std::to_string(max) + ")");
  DCtx dctx(ZSTD_createDCtx(), &ZSTD_freeDCtx);
  if (!dctx) throw Error(where + "cannot start zstd");
  check(ZSTD_DCtx_setParameter(dctx.get(), ZSTD_d_windowLogMax,
                               ZSTD_dParam_getBounds(ZSTD_d_windowLogMax).upperBound), "window");
  check(ZSTD_DCtx_refPrefix(dctx.get(), base.data(), base.size()), "prefix");
  std::string out(static_cast<size_t>(size), '\0');
  const size_t n = ZSTD_decompressDCtx(dctx.get(), out.data(), out.size(), delta.patch.data(), delta.patch.size());
  if (ZSTD_isError(n)) throw Error(where + "its patch does not apply (" + ZSTD_getErrorName(n) + ")");
  if (n != out.size()) throw Error(where + "its patch makes fewer bytes than it states");
  if (!is_index_payload(out.data(), out.size())) throw Error(where + "does not make a release index");
  return out;
}

}  // namespace haul::delta
