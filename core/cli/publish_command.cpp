// SPDX-License-Identifier: Apache-2.0
// `haul publish ARTIFACT --to PREFIX --role R --stage S --dest D ...`: the
// build side's second step (publish/publisher.hpp). Prints one manifest URL
// per line on stdout, for `haul kick` or a script.
#include <spdlog/spdlog.h>

#include <ctime>
#include <iostream>

#include "pipeline/pipeline.hpp"
#include "cli/cli_common.hpp"
#include "cli/publish_common.hpp"
#include "publish/publisher.hpp"
#include "util/error.hpp"
#include "util/units.hpp"

namespace po = boost::program_options;

namespace haul {

namespace {

std::vector<std::string> many(const po::variables_map& vm, const char* key) {
  return vm.count(key) ? vm[key].as<std::vector<std::string>>() : std::vector<std::string>{};
}

}  // namespace

int run_publish(const Args& args) {
  po::options_description desc("haul publish ARTIFACT --to PREFIX --role ROLE --stage STAGE --dest DIR [options]");
  desc.add_options()
      ("artifact", po::value<std::string>(), "the tarball to publish (positional)")
      ("to", po::value<std::string>(), "where artifacts go: s3://bucket/app, gs://bucket/app, file:///srv/releases/app, https://host/app")
      ("manifests", po::value<std::string>(), "where manifests, signatures and pointers go (default: --to)")
      ("role", po::value<std::vector<std::string>>()->composing(), "a role to render a manifest for (repeatable)")
      ("stage", po::value<std::vector<std::string>>()->composing(), "a stage to render manifests for (repeatable)")
      ("dest", po::value<std::string>(), "the manifests' dest on the servers")
      ("sync-strategy", po::value<std::string>()->default_value("rsync"), "rsync, mv or release")
      ("dest-mode", po::value<std::string>(), "octal mode of dest, e.g. 0755")
      ("keep-releases", po::value<int>(), "release strategy: releases kept on each server")
      ("linked-dir", po::value<std::vector<std::string>>()->composing(), "release strategy: folder linked to shared/ (repeatable)")
      ("linked-file", po::value<std::vector<std::string>>()->composing(), "release strategy: file linked to shared/ (repeatable)")
      ("exclude", po::value<std::vector<std::string>>()->composing(), "the manifests' excludes (repeatable)")
      ("exclude-from", po::value<std::string>(), "the manifests' exclude_from (a file inside the artifact)")
      ("hooks", po::value<std::string>(), "hooks file: default: and <role>: blocks of pre/post/success/failure commands")
      ("release", po::value<std::string>(), "release id (default: the UTC time, 20261126T101500Z)")
      ("created-at", po::value<std::string>(), "the manifests' created_at (default: now; the downgrade check compares it)")
      ("sign", po::value<std::string>(), "sign each manifest with this private key (haul keygen)")
      ("pack-chunks", po::value<int64_t>()->default_value(static_cast<int64_t>(kDefaultPackMinChunks)),
       "a release index: once this many of its chunks are in no pack, pack them into one (0: never)")
      ("no-pointer", "do not write the latest_<role>_<stage>.yml desired-release pointers")
      ("config", po::value<std::string>(), "take upload settings (e.g. the s3 endpoint) from this pipeline config")
      ("pipeline", po::value<std::string>(), "which pipeline of --config");
  desc.add(common_options());
  return run_command(args, desc, {"artifact"}, [&](const po::variables_map& vm) {
    if (!vm.count("artifact")) throw UsageError("haul publish needs the artifact, e.g. haul publish app.tar.gz --to s3://bucket/app ...");
    if (!vm.count("stage")) throw UsageError("haul publish needs --stage (e.g. --stage production)");
    if (!vm.count("dest")) throw UsageError("haul publish needs --dest (where the servers put the release, e.g. /srv/app)");
    PublishRequest req;
    req.artifact = vm["artifact"].as<std::string>();
    req.artifact_prefix = vm.count("to") ? vm["to"].as<std::string>() : "";
    if (vm.count("manifests")) req.manifest_prefix = vm["manifests"].as<std::string>();
    req.roles = many(vm, "role");
    StageSettings st;
    st.dest = vm["dest"].as<std::string>();
    const auto strategy = vm["sync-strategy"].as<std::string>();
    auto parsed = parse_sync_strategy(strategy);
    if (!parsed) throw Error("--sync-strategy: unknown strategy '" + strategy + "'; expected rsync, mv or release");
    st.sync_strategy = *parsed;
    if (vm.count("dest-mode")) {
      auto mode = parse_octal_mode(vm["dest-mode"].as<std::string>());
      if (!mode) throw Error("--dest-mode: expected an octal mode like 0755, got '" + vm["dest-mode"].as<std::string>() + "'");
      st.dest_mode = *mode;
    }
    if (vm.count("keep-releases")) st.keep_releases = vm["keep-releases"].as<int>();
    st.linked_dirs = many(vm, "linked-dir");
    st.linked_files = many(vm, "linked-file");
    st.excludes = many(vm, "exclude");
    if (vm.count("exclude-from")) st.exclude_from = vm["exclude-from"].as<std::string>();
    for (const auto& stage : many(vm, "stage")) req.stages[stage] = st;
    if (vm.count("hooks")) req.hooks = load_hooks_file(vm["hooks"].as<std::string>());
    req.created_at = static_cast<int64_t>(std::time(nullptr));
    if (vm.count("created-at")) {
      auto t = parse_timestamp(vm["created-at"].as<std::string>());
      if (!t) throw Error("--created-at: expected unix seconds or a UTC time like 2026-11-26T10:15:00Z");
      req.created_at = *t;
    }
    req.release = vm.count("release") ? vm["release"].as<std::string>() : default_release_id(req.created_at);
    if (vm.count("sign")) req.sign_key = load_signing_key(vm["sign"].as<std::string>());
    req.write_pointers = !vm.count("no-pointer");
    const int64_t pack_chunks = vm["pack-chunks"].as<int64_t>();  // signed: boost reads "-1" as 2^64-1 for unsigned
    if (pack_chunks < 0)
      throw UsageError("--pack-chunks: expected a count of chunks, 0 or more (0: never pack), got " + std::to_string(pack_chunks));
    req.pack_min_chunks = static_cast<uint64_t>(pack_chunks);

    auto selected = select_pipeline(vm);
    auto pipeline = wire_pipeline(selected);
    PublishResult r = publish_release(req, pipeline->sources, [](const std::string& m) { spdlog::info("{}", m); });
    print_published(r);
    return 0;
  });
}

}  // namespace haul
