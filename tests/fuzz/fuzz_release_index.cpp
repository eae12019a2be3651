// SPDX-License-Identifier: Apache-2.0
// The release index decoder on hostile bytes. The input is the index as it
// is after decompression (so the fuzzer explores the format, not zstd); the
// first byte chooses to feed it raw instead, which exercises the zstd layer.
// An index that decodes must encode and decode to the same entries.
// An input that starts like a delta (index_delta.hpp) is read as one and
// applied to a fixed base, as an agent applies one to the index it holds;
// one that starts like a pack map (pack_map.hpp), as the fixed base's map
// (its digest taken from the input, so the fuzzer gets past it).
#include <zstd.h>

#include <cstdint>
#include <string>

#include "delta/index_delta.hpp"
#include "delta/pack_map.hpp"
#include "delta/release_index.hpp"
#include "util/error.hpp"

namespace {

// The base every delta is applied to; seeds/release_index/delta is made against it.
const std::string& fixed_base() {
  static const std::string base = [] {
    using namespace haul::delta;
    ReleaseIndex idx;
    idx.chunk_store = "..";
    idx.chunks = {{ChunkName{1}, 3}, {ChunkName{2}, 5}};
    idx.entries.push_back({"app", EntryType::dir, 0755, 1700000000, 0, "", {}});
    idx.entries.push_back({"app/a.rb", EntryType::file, 0644, 1700000000, 8, "", {0, 1}});
    idx.entries.push_back({"app/b.rb", EntryType::file, 0644, 1700000000, 5, "", {1}});
    return encode_index_payload(idx);
  }();
  return base;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  haul::delta::IndexLimits limits;
  limits.max_decoded_bytes = 16 << 20;
  if (haul::delta::is_index_delta_payload(body.data(), body.size())) {
    try {
      const auto delta = haul::delta::read_index_delta(body, "fuzz");
      haul::delta::decode_index_payload(
          haul::delta::apply_index_delta(delta, fixed_base(), "fuzz", limits.max_decoded_bytes), "fuzz", limits);
    } catch (const haul::Error&) {
    }
    return 0;
  }
  std::string framed;
  if (data[0] & 1) {
    framed = body;
  } else {
    framed.resize(ZSTD_compressBound(body.size()));
    framed.resize(ZSTD_compress(framed.data(), framed.size(), body.data(), body.size(), 1));
  }
  if (body.size() >= 40 && body.compare(0, 8, "HAULPKM1") == 0) {
    static const auto base = haul::delta::decode_index_payload(fixed_base(), "base");
    haul::delta::ChunkName digest{};
    std::copy(body.begin() + 8, body.begin() + 40, digest.begin());
    try {
      const auto map = haul::delta::decode_pack_map(framed, "fuzz", base, digest);
      const auto again = haul::delta::decode_pack_map(haul::delta::encode_pack_map(map), "fuzz", base, digest);
      if (again.packs != map.packs || again.chunks.size() != map.chunks.size()) __builtin_trap();
      for (size_t i = 0; i < map.chunks.size(); ++i)
        if (again.chunks[i].has_value() != map.chunks[i].has_value() ||
            (map.chunks[i] && (again.chunks[i]->offset != map.chunks[i]->offset ||
                               again.chunks[i]->stored != map.chunks[i]->stored)))
          __builtin_trap();
    } catch (const haul::Error&) {
    }
    return 0;
  }
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
