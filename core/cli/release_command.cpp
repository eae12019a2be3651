// SPDX-License-Identifier: Apache-2.0
// `haul release [STAGE]`: pack + publish + kick in one command, from the
// project's haul-release.yaml (publish/release_project.hpp). With one stage in
// the file, STAGE may be left out.
#include <spdlog/spdlog.h>

#include <ctime>
#include <iostream>

#include "pipeline/pipeline.hpp"
#include "cli/cli_common.hpp"
#include "cli/pack_options.hpp"
#include "cli/publish_common.hpp"
#include "publish/kicker.hpp"
#include "publish/release_project.hpp"
#include "util/error.hpp"
#include "util/scratch_dir.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace haul {

int run_release(const Args& args) {
  po::options_description desc("haul release [STAGE] [--file haul-release.yaml]");
  desc.add_options()
      ("stage", po::value<std::string>(), "the stage to release (positional; default: the only one)")
      ("file,f", po::value<std::string>()->default_value("haul-release.yaml"), "the project file")
      ("ref", po::value<std::string>(), "with git: release this ref instead of the file's")
      ("release", po::value<std::string>(), "release id (default: UTC time, plus the short commit for git)")
      ("no-kick", "publish without firing the events (agents pick it up from the pointer or a later kick)");
  desc.add(common_options());
  return run_command(args, desc, {"stage"}, [&](const po::variables_map& vm) {
    ReleaseProject project = load_release_project(vm["file"].as<std::string>());
    std::string stage;
    if (vm.count("stage")) {
      stage = vm["stage"].as<std::string>();
      if (!project.stages.count(stage)) {
        std::string names;
        for (const auto& [n, _] : project.stages) names += (names.empty() ? "" : ", ") + n;
        throw Error(project.origin + " has no stage '" + stage + "'; it has: " + names);
      }
    } else if (project.stages.size() == 1) {
      stage = project.stages.begin()->first;
    } else {
      throw Error(project.origin + " has " + std::to_string(project.stages.size()) +
                  " stages; name one: haul release STAGE");
    }
    if (vm.count("ref")) {
      if (project.git_repo.empty()) throw Error("--ref needs git: in " + project.origin);
      project.git_ref = vm["ref"].as<std::string>();
    }

    // Everything that can be checked is checked before anything is built.
    std::optional<Ed25519Key> key;
    if (!project.sign_key.empty()) key = load_signing_key(project.sign_key);
    HooksFile hooks = project.hooks_file.empty() ? HooksFile{} : load_hooks_file(project.hooks_file);
    PipelineConfig uploads;
    uploads.name = "release";
    uploads.sources = project.sources;
    auto registry = load_registry();
    auto pipeline = build_pipeline(uploads, registry, project.origin, false);

    ScratchDir scratch("haul-release");
    PackRequest pr;
    pr.dir = project.git_repo.empty() ? project.source_dir : "";
    pr.git_repo = project.git_repo;
    pr.git_ref = project.git_ref;
    pr.options.format = project.format;
    pr.options.level = project.level;
    pr.options.excludes = project.excludes;
    pr.options.mtime = project.mtime;
    const std::string app = project.app.empty() ? default_pack_output(pr).stem().stem().string() : project.app;
    pr.options.output = scratch.path() / (app + (project.chunked ? ".index" : "." + std::string(extension(project.format))));
    PackedArtifact packed = project.chunked ? pack_chunked_release(pr, scratch.path()) : pack(pr);

    PublishRequest req;
    req.artifact = packed.path;
    req.artifact_prefix = project.store;
    req.manifest_prefix = project.manifests;
    req.roles = project.roles;
    req.stages[stage] = project.stages.at(stage);
    req.hooks = hooks;
    req.created_at = static_cast<int64_t>(std::time(nullptr));
    req.release = vm.count("release") ? vm["release"].as<std::string>() : default_release_id(req.created_at, packed.revision);
    req.sign_key = key;
    req.write_pointers = project.pointers;
    req.pack_min_chunks = project.pack_chunks;
    PublishResult published = publish_release(req, pipeline->sources, [](const std::string& m) { spdlog::info("{}", m); });
    print_published(published);

    if (!project.kick_enabled || vm.count("no-kick")) {
      spdlog::info("not kicking: agents deploy release {} at the next event or reconcile", req.release);
      return 0;
    }
    for (const auto& m : published.manifests) {
      const std::string name = event_name(project.kick.name_template, m.role, m.stage);
      const std::string id = kick(project.kick, name, m.url);
      spdlog::info("fired {} via {}{}", name, project.kick.via, id.empty() ? "" : " (event " + id + ")");
    }
    spdlog::info("release {} of {} is out to stage {}", req.release, app, stage);
    return 0;
  });
}

}  // namespace haul
