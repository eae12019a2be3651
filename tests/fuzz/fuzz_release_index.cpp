// The release index decoder on hostile bytes. The input is the index as it
// is after decompression (so the fuzzer explores the format, not zstd); the
// first byte chooses to feed it raw instead, which exercises the zstd layer.
// An index that decodes must encode and decode to the same entries.
#include <zstd.h>

#include <cstdint>
#include <string>

#include "delta/release_index.hpp"
#include "util/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string framed;
  if (data[0] & 1) {
    framed = body;
  } else {
    framed.resize(ZSTD_compressBound(body.size()));
    framed.resize(ZSTD_compress(framed.data(), framed.size(), body.data(), body.size(), 1));
  }
  haul::delta::IndexLimits limits;
  limits.max_decoded_bytes = 16 << 20;
  try {
    const auto index = haul::delta::decode_index(framed, "fuzz", limits);
    const auto again = haul::delta::decode_index(haul::delta::encode_index(index, 1), "fuzz", limits);
    if (again.entries.size() != index.entries.size() || again.chunks.size() != index.chunks.size()) __builtin_trap();
    for (size_t i = 0; i < index.entries.size(); ++i)
      if (again.entries[i].path != index.entries[i].path || again.entries[i].chunks != index.entries[i].chunks) __builtin_trap();
  } catch (const haul::Error&) {
  }
  return 0;
}
