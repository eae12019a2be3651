// SPDX-License-Identifier: Apache-2.0
// `haul gc --store PREFIX --keep N`: prune a chunk store of the releases
// beyond the newest N and the chunks none of the kept ones need
// (publish/chunk_store_gc.hpp). --dry-run says what it would remove.
#include <spdlog/spdlog.h>

#include <iostream>

#include "cli/cli_common.hpp"
#include "pipeline/pipeline.hpp"
#include "publish/chunk_store_gc.hpp"
#include "util/error.hpp"
#include "util/units.hpp"

namespace po = boost::program_options;

namespace haul {

int run_gc(const Args& args) {
  po::options_description desc("haul gc --store PREFIX --keep N [options]");
  desc.add_options()
      ("store", po::value<std::string>(), "the chunk store: the --to of haul publish (s3://bucket/app, file:///srv/releases/app)")
      ("keep", po::value<int>(), "how many of the newest releases to keep whole (besides those manifests name)")
      ("manifests", po::value<std::string>(), "where the manifests are, if not in --store: the releases they name are kept")
      ("min-age", po::value<std::string>()->default_value("1h"),
       "leave unneeded chunks younger than this (a publish in progress uploads chunks before its index)")
      ("dry-run", "say what would be removed, remove nothing")
      ("config", po::value<std::string>(), "take store settings (e.g. the s3 endpoint) from this pipeline config")
      ("pipeline", po::value<std::string>(), "which pipeline of --config");
  desc.add(common_options());
  return run_command(args, desc, {}, [&](const po::variables_map& vm) {
    GcRequest req;
    if (!vm.count("store")) throw UsageError("haul gc needs --store PREFIX (the --to of haul publish)");
    if (!vm.count("keep")) throw UsageError("haul gc needs --keep N (how many of the newest releases to keep)");
    req.store = vm["store"].as<std::string>();
    req.keep = vm["keep"].as<int>();
    if (vm.count("manifests")) req.manifests = vm["manifests"].as<std::string>();
    const auto age = parse_duration(vm["min-age"].as<std::string>());
    if (!age) throw UsageError("--min-age: expected a duration like 30m, 1h or 0s, got '" + vm["min-age"].as<std::string>() + "'");
    req.min_age = std::chrono::duration_cast<std::chrono::seconds>(*age);
    req.dry_run = vm.count("dry-run") > 0;
    auto selected = select_pipeline(vm);
    auto pipeline = wire_pipeline(selected);
    const GcResult r = collect_chunk_store(req, pipeline->sources, [](const std::string& m) { spdlog::info("{}", m); });
    std::cout << (req.dry_run ? "would remove " : "removed ") << r.removed.size() << " release(s), " << r.chunks_removed
              << " chunk(s) (" << format_bytes(r.bytes_removed) << "); kept " << r.kept.size() << " release(s)"
              << (r.bases.empty() ? "" : " and the index of " + std::to_string(r.bases.size()) +
                                             " release(s) a kept release's index is a delta of")
              << "\n";
    return 0;
  });
}

}  // namespace haul
