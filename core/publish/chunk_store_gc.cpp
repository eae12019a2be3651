// SPDX-License-Identifier: Apache-2.0
#include "publish/chunk_store_gc.hpp"

#include <algorithm>
#include <ctime>
#include <map>
#include <optional>
#include <set>

#include "config/manifest.hpp"
#include "delta/chunk_name.hpp"
#include "delta/pack_map.hpp"
#include "delta/release_index.hpp"
#include "delta/index_chain.hpp"
#include "transfer/parallel_sources.hpp"
#include "util/error.hpp"
#include "util/units.hpp"

namespace haul {
namespace {

constexpr size_t kRemoveWorkers = 8;

struct Release {
  std::string id, index_name;  // "r1", "r1/app.index"
  int64_t uploaded = 0;
};

bool is_chunk_name(const std::string& name) {
  // chunks/ab/<64 hex>.zst
  if (name.size() != 7 + 3 + 64 + 4 || name.compare(0, 7, "chunks/") != 0 || name.compare(name.size() - 4, 4, ".zst") != 0)
    return false;
  return name.compare(7, 2, name, 10, 2) == 0 && name[9] == '/';
}

bool is_pack_name(const std::string& name) {
  // packs/<64 hex>.pack
  return name.size() == 6 + 64 + 5 && name.compare(0, 6, "packs/") == 0 && name.compare(name.size() - 5, 5, ".pack") == 0 &&
         name.find_first_not_of("0123456789abcdef", 6) == name.size() - 5;
}

// A store's listing came back a moment ago: a failed read is worth two more tries.
FetchPolicy gc_fetch_policy() {
  FetchPolicy policy;
  policy.retry = 2;
  policy.retry_wait = std::chrono::milliseconds(500);
  return policy;
}

std::string fetch_all(const SourceSet& sources, const std::string& url, size_t max) {
  StopSignal never;
  DeployLog quiet("gc");
  std::string bytes;
  fetch_stream(sources, url, gc_fetch_policy(), never, quiet, [&](const void* d, size_t n) {
    if (bytes.size() + n > max) throw Error(url + ": larger than " + format_bytes(max));
    bytes.append(static_cast<const char*>(d), n);
    return true;
  }, {}, [&] { bytes.clear(); });
  return bytes;
}

// The release ids the manifests at `manifests` name, when their src is an index in this store.
std::set<std::string> named_by_manifests(const std::string& manifests, const std::string& prefix,
                                         const SourceSet& sources, const PublishLog& log) {
  std::set<std::string> out;
  SourceInstance& src = sources.for_url(manifests);
  size_t seen = 0;
  for (const auto& o : src.list(manifests)) {
    if (o.name.rfind("manifest_", 0) != 0 || o.name.find('/') != std::string::npos) continue;
    ++seen;
    const std::string url = manifests + o.name;
    const std::string text = fetch_all(sources, url, 4 << 20);
    const Manifest m = parse_published_manifest(text, url);
    if (m.src.rfind(prefix, 0) != 0) continue;
    const std::string rel = m.src.substr(prefix.size());
    const size_t slash = rel.find('/');
    if (slash == std::string::npos) continue;
    out.insert(rel.substr(0, slash));
    log(url + " names release " + rel.substr(0, slash) + ": kept");
  }
  if (seen == 0)
    log("no manifest_*.yml in " + manifests + ": only the newest releases are kept (if the manifests live elsewhere, "
        "pass --manifests, as to haul publish)");
  return out;
}

void remove_all(const std::vector<std::string>& urls, const SourceSet& sources) {
  for_each_with_sources(sources, urls.size(), kRemoveWorkers,
                        [&](const SourceSet& mine, size_t i) { mine.for_url(urls[i]).remove(urls[i]); });
}

}  // namespace

GcResult collect_chunk_store(const GcRequest& req, const SourceSet& sources, const PublishLog& log) {
  if (req.store.empty()) throw UsageError("haul gc needs --store PREFIX (the --to of haul publish)");
  if (req.keep < 1) throw UsageError("--keep: expected at least 1 release to keep, got " + std::to_string(req.keep));
  const std::string prefix = join_url(req.store, "");
  const std::string manifests = req.manifests.empty() ? prefix : join_url(req.manifests, "");
  SourceInstance& store = sources.for_url(prefix);
  if (!store.plugin().list_callback() || !store.plugin().remove_callback())
    throw Error(prefix + ": the '" + store.plugin().name() +
                "' source plugin cannot list and remove objects, which haul gc needs (ABI 1.4 list and remove)");

  const auto objects = store.list(prefix);
  std::map<std::string, Release> releases;
  std::map<std::string, uint64_t> chunk_sizes;  // name -> size
  std::map<std::string, int64_t> chunk_times;
  std::map<std::string, uint64_t> pack_sizes;
  std::map<std::string, int64_t> pack_times;
  std::set<std::string> pack_maps;  // "<release>/<name>.index.packs"
  for (const auto& o : objects) {
    const size_t slash = o.name.find('/');
    if (is_chunk_name(o.name)) {
      chunk_sizes[o.name] = o.size;
      chunk_times[o.name] = o.mtime_unix;
    } else if (is_pack_name(o.name)) {
      pack_sizes[o.name] = o.size;
      pack_times[o.name] = o.mtime_unix;
    } else if (o.name.size() > 12 && o.name.compare(o.name.size() - 12, 12, ".index.packs") == 0) {
      pack_maps.insert(o.name);
    } else if (slash != std::string::npos && o.name.find('/', slash + 1) == std::string::npos &&
               o.name.size() > 6 && o.name.compare(o.name.size() - 6, 6, ".index") == 0) {
      Release& r = releases[o.name.substr(0, slash)];
      r.id = o.name.substr(0, slash);
      r.index_name = o.name;
      r.uploaded = std::max(r.uploaded, o.mtime_unix);
    }
  }
  GcResult result;
  result.chunks = chunk_sizes.size();
  std::vector<Release> order;
  for (const auto& [id, r] : releases) order.push_back(r);
  std::sort(order.begin(), order.end(), [](const Release& a, const Release& b) {
    return a.uploaded != b.uploaded ? a.uploaded > b.uploaded : a.id > b.id;
  });
  const std::set<std::string> named = named_by_manifests(manifests, prefix, sources, log);
  std::vector<const Release*> kept, removed;
  for (size_t i = 0; i < order.size(); ++i)
    (static_cast<int>(i) < req.keep || named.count(order[i].id) ? kept : removed).push_back(&order[i]);

  // What the kept releases need: every kept release's index must be read, or nothing
  // goes. A kept release's index published as a delta needs the indexes it is made
  // from, but not their chunks.
  StopSignal never;
  DeployLog quiet("gc");
  IndexChain chain(sources, gc_fetch_policy(), never, quiet);
  std::set<std::string> needed, needed_packs;
  for (const Release* r : kept) {
    const std::string url = prefix + r->index_name;
    delta::ReleaseIndex index;
    std::string payload;
    try {
      const ResolvedIndex resolved = chain.fetch(url, 256u << 20);
      for (const std::string& base : resolved.bases) {
        const auto it = std::find_if(removed.begin(), removed.end(),
                                     [&](const Release* x) { return prefix + x->index_name == base; });
        if (it == removed.end()) continue;
        log("release " + (*it)->id + ": its index stays (release " + r->id +
            "'s index is a delta of it), its chunks go unless a kept release needs them");
        result.bases.push_back((*it)->id);
        removed.erase(it);
      }
      index = delta::decode_index_payload(resolved.payload, url);
      payload = resolved.payload;
    } catch (const std::exception& e) {
      throw Error(std::string(e.what()) + "; haul gc removed nothing (a kept release's chunks must be known first)");
    }
    if (delta::chunk_store_url(url, index.chunk_store) != prefix) {
      log("release " + r->id + " keeps its chunks elsewhere (" + delta::chunk_store_url(url, index.chunk_store) + ")");
      continue;
    }
    for (const auto& c : index.chunks) needed.insert(delta::chunk_key(c.name));
    if (pack_maps.count(r->index_name + ".packs")) {
      // A pack only speeds a deploy up (every chunk is also loose): a map
      // that cannot be read keeps nothing, and costs its agents the speed.
      try {
        const std::string map_url = url + ".packs";
        const delta::PackMap map = delta::decode_pack_map(fetch_all(sources, map_url, 64 << 20), map_url, index,
                                                          delta::chunk_name_of(payload.data(), payload.size()));
        needed_packs.insert(map.packs.begin(), map.packs.end());
      } catch (const std::exception& e) {
        log(std::string(e.what()) + "; the packs only it names are not kept for release " + r->id);
      }
    }
    result.kept.push_back(r->id);
  }
  const int64_t cutoff = static_cast<int64_t>(std::time(nullptr)) - req.min_age.count();
  std::vector<std::string> doomed_indexes, doomed_chunks;
  for (const Release* r : removed) {
    doomed_indexes.push_back(prefix + r->index_name);
    if (pack_maps.count(r->index_name + ".packs")) doomed_indexes.push_back(prefix + r->index_name + ".packs");
    result.removed.push_back(r->id);
  }
  // A base index that stays keeps no pack: its map goes unless its release is kept.
  for (const auto& id : result.bases)
    for (const auto& m : pack_maps)
      if (m.rfind(id + "/", 0) == 0) doomed_indexes.push_back(prefix + m);
  // An object no kept release needs goes, unless a publish in progress may just have uploaded it.
  auto prune = [&](const std::map<std::string, uint64_t>& sizes, std::map<std::string, int64_t>& times,
                   const std::set<std::string>& wanted, uint64_t& removed_count, uint64_t& too_young) {
    for (const auto& [name, size] : sizes) {
      if (wanted.count(name)) continue;
      if (times[name] > cutoff) {
        ++too_young;
        continue;
      }
      doomed_chunks.push_back(prefix + name);
      ++removed_count;
      result.bytes_removed += size;
    }
  };
  prune(pack_sizes, pack_times, needed_packs, result.packs_removed, result.packs_too_young);
  prune(chunk_sizes, chunk_times, needed, result.chunks_removed, result.chunks_too_young);
  std::string kept_list, removed_list;
  for (const auto& id : result.kept) kept_list += (kept_list.empty() ? "" : ", ") + id;
  for (const auto& id : result.removed) removed_list += (removed_list.empty() ? "" : ", ") + id;
  log(std::string(req.dry_run ? "would keep" : "keeping") + " " + count_of(result.kept.size(), "release", "releases") +
      (kept_list.empty() ? "" : " (" + kept_list + ")") + "; " + (req.dry_run ? "would remove " : "removing ") +
      count_of(result.removed.size(), "release index", "release indexes") +
      (removed_list.empty() ? "" : " (" + removed_list + ")") + " and " +
      count_of(result.chunks_removed, "chunk", "chunks") + " of " + std::to_string(result.chunks) + " (" +
      format_bytes(result.bytes_removed) + (result.packs_removed ? ", with " + count_of(result.packs_removed, "pack", "packs") : "") +
      ")" +
      (result.chunks_too_young ? "; " + count_of(result.chunks_too_young, "unneeded chunk", "unneeded chunks") +
                                     " younger than --min-age left for now"
                               : "") +
      (result.packs_too_young ? "; " + count_of(result.packs_too_young, "unneeded pack", "unneeded packs") +
                                    " younger than --min-age left for now"
                              : ""));
  if (req.dry_run) return result;
  remove_all(doomed_indexes, sources);  // first: no agent starts on a release losing its chunks
  remove_all(doomed_chunks, sources);
  return result;
}

}  // namespace haul
