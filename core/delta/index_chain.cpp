// SPDX-License-Identifier: Apache-2.0
#include "delta/index_chain.hpp"

#include <algorithm>
#include <fstream>
#include <utility>

#include "delta/chunk_name.hpp"
#include "delta/index_delta.hpp"
#include "delta/release_index.hpp"
#include "util/digest.hpp"
#include "util/durable_file.hpp"
#include "util/error.hpp"
#include "util/units.hpp"

namespace fs = std::filesystem;

namespace haul {
namespace {

// The index dest holds and the one before it, with room for a failed deploy's.
constexpr size_t kCacheKeep = 3;

}  // namespace

std::string IndexChain::fetch_payload(const std::string& url, uint64_t max_bytes, uint64_t& fetched) {
  std::string bytes;
  bool too_big = false;
  fetch_stream(sources_, url, policy_, stop_, log_, [&](const void* d, size_t n) {
    too_big = bytes.size() + n > max_bytes;  // zstd never makes an index larger
    if (!too_big) bytes.append(static_cast<const char*>(d), n);
    return !too_big;
  }, {}, [&] { bytes.clear(); });
  if (too_big) throw Error("release index " + url + ": larger than " + format_bytes(max_bytes) + "; refused");
  if (stop_.raised()) throw Error("stopped while fetching " + url);
  fetched += bytes.size();
  return delta::decompress_index(bytes, url, max_bytes);
}

std::optional<std::string> IndexChain::cached(const std::string& name_hex, uint64_t size) {
  if (cache_dir_.empty()) return std::nullopt;
  const fs::path file = cache_dir_ / name_hex;
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::nullopt;
  std::string bytes(std::istreambuf_iterator<char>(in), {});
  if (bytes.size() == size && sha256_hex(bytes) == name_hex) return bytes;
  std::error_code ec;  // torn or altered: fetched instead, and not trusted again
  fs::remove(file, ec);
  return std::nullopt;
}

ResolvedIndex IndexChain::resolve(std::string payload, const std::string& url, uint64_t max_bytes) {
  ResolvedIndex out;
  std::vector<std::pair<delta::IndexDelta, std::string>> deltas;  // with their URLs, nearest first
  std::string at = url;
  while (delta::is_index_delta_payload(payload.data(), payload.size())) {
    if (deltas.size() == delta::kMaxDeltaDepth)
      throw Error("release index " + url + ": more than " + std::to_string(delta::kMaxDeltaDepth) +
                  " deltas deep; refused (publish the release whole)");
    delta::IndexDelta d = delta::read_index_delta(payload, at);
    const std::string base_url = delta::index_base_url(at, d.base_location);
    std::optional<std::string> base = cached(delta::hex(d.base), d.base_size);
    deltas.emplace_back(std::move(d), at);
    if (base) {
      log_.info("Release index " + at + " is a delta of " + base_url + ", which this machine holds");
      payload = std::move(*base);
      break;
    }
    log_.info("Release index " + at + " is a delta of " + base_url + ": fetching that");
    payload = fetch_payload(base_url, max_bytes, out.bytes_fetched);
    out.bases.push_back(base_url);
    at = base_url;
  }
  if (!delta::is_index_payload(payload.data(), payload.size()))
    throw Error("release index " + at + ": not a haul release index (expected one haul pack --chunked wrote)");
  for (auto it = deltas.rbegin(); it != deltas.rend(); ++it)
    payload = delta::apply_index_delta(it->first, payload, it->second, max_bytes);
  out.depth = deltas.empty() ? 0 : deltas.front().first.depth;
  out.payload = std::move(payload);
  return out;
}

ResolvedIndex IndexChain::fetch(const std::string& url, uint64_t max_bytes) {
  uint64_t fetched = 0;
  ResolvedIndex out = resolve(fetch_payload(url, max_bytes, fetched), url, max_bytes);
  out.bytes_fetched += fetched;
  return out;
}

void IndexChain::remember(const std::string& payload) {
  if (cache_dir_.empty()) return;
  try {
    write_file_durably(cache_dir_ / sha256_hex(payload), payload);
    std::vector<std::pair<fs::file_time_type, fs::path>> files;
    for (const auto& e : fs::directory_iterator(cache_dir_)) files.emplace_back(e.last_write_time(), e.path());
    std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    for (size_t i = kCacheKeep; i < files.size(); ++i) fs::remove(files[i].second);
  } catch (const std::exception& e) {
    log_.warn("Cannot keep the release index in " + cache_dir_.string() + " (" + e.what() +
              "); the next delta release fetches its base again");
  }
}

}  // namespace haul
