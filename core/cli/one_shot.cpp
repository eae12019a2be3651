// SPDX-License-Identifier: Apache-2.0
// The two one-deploy entry points:
//  - `haul` (no subcommand): the stretcher-compatible handler. It reads one
//    event from stdin through the consul-watch trigger plugin — a Consul
//    watch JSON array, a Serf user event, or a plain line — and deploys it.
//    Under consul watch (CONSUL_INDEX set) it always exits 0, because a
//    non-zero exit stops the watch; the failure is logged instead.
//  - `haul deploy URL`: deploy one manifest URL, no event involved.
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <iostream>

#include "agent/agent.hpp"
#include "agent/reconciler.hpp"
#include "cli/cli_common.hpp"
#include "cli/deploy_flags.hpp"
#include "cli/shutdown_signals.hpp"
#include "deploy/deploy_engine.hpp"
#include "util/error.hpp"
#include "cli/version_text.hpp"
#include "version.hpp"

namespace po = boost::program_options;

namespace haul {
namespace {

po::options_description one_shot_options(const char* title) {
  po::options_description desc(title);
  desc.add_options()
      ("config", po::value<std::string>(), "pipeline config (YAML) whose sources, hooks and deploy options to use")
      ("pipeline", po::value<std::string>(), "which pipeline of --config (needed when it has several)")
      ("state-dir", po::value<std::string>(), "remember applied events here: an event is never applied twice")
      ("version,v", "print the version and exit");
  add_deploy_flags(desc);
  desc.add(common_options());
  return desc;
}

}  // namespace

int run_handler(const Args& args) {
  const bool under_consul_watch = std::getenv("CONSUL_INDEX") != nullptr;
  auto desc = one_shot_options("haul [options] < event   (consul watch / Serf handler, or echo URL | haul)");
  try {
    auto vm = parse_args(args, desc);
    if (vm.count("help")) {
      std::cout << desc << "\n";
      return 0;
    }
    if (vm.count("version")) {
      std::cout << version_and_license();
      return 0;
    }
    StopSignal stop, abort;
    ShutdownSignals signals(stop, &abort);
    auto selected = select_pipeline(vm);
    // Whatever the config says, the handler's events come from stdin, and it
    // handles one: the desired-release check is `haul reconcile`'s (cron, timer).
    selected.pipeline.trigger = {"consul-watch", YAML::Node(), "trigger", YAML::Node()};
    selected.pipeline.desired.clear();
    auto registry = load_registry(selected.config.plugin_path);
    spdlog::info("haul {} handling an event from stdin (pipeline {})", HAUL_VERSION, selected.pipeline.name);
    std::vector<std::unique_ptr<Pipeline>> pipelines;
    const std::string state_dir =
        vm.count("state-dir") ? vm["state-dir"].as<std::string>() : selected.config.state_dir;
    pipelines.push_back(build_pipeline(selected.pipeline, registry, selected.config.origin, true, state_dir));
    AgentSummary s = run_agent(pipelines, stop, abort);
    bool ok = s.failures == 0 && s.trigger_errors == 0 && s.interrupted == 0;
    if (!ok && under_consul_watch) {
      spdlog::warn("exiting 0 despite the failure: running under consul watch (CONSUL_INDEX is set)");
      return 0;
    }
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return under_consul_watch ? 0 : 2;
  }
}

int run_reconcile(const Args& args) {
  auto desc = one_shot_options("haul reconcile --config FILE [--pipeline P]   (the desired-release check, once)");
  try {
    auto vm = parse_args(args, desc);
    if (vm.count("help")) {
      std::cout << desc << "\n";
      return 0;
    }
    StopSignal stop, abort;
    ShutdownSignals signals(stop, &abort);
    auto selected = select_pipeline(vm);
    if (selected.pipeline.desired.empty())
      throw Error(selected.config.origin + ": pipeline " + selected.pipeline.name +
                  " has no desired: pointer to reconcile with (desired: s3://bucket/app/latest_web_production.yml)");
    const std::string state_dir =
        vm.count("state-dir") ? vm["state-dir"].as<std::string>() : selected.config.state_dir;
    auto pipeline = wire_pipeline(selected, state_dir);
    Reconciler reconciler(pipeline->name, pipeline->desired, pipeline->sources, fetch_policy_for(pipeline->deploy),
                          pipeline->reconcile_interval);
    ReconcileDecision d = reconciler.check(stop);
    if (d.kind != ReconcileDecision::deploy) {
      std::cout << d.why << "\n";
      return 0;
    }
    spdlog::info("[{}] {}; deploying", pipeline->name, d.why);
    DeployResult r = pipeline->run_deploy(d.request, abort, &stop);
    std::cout << (r.ok ? "deployed desired release " + d.pointer.release : "deploy of " + d.pointer.release + " failed: " + r.error)
              << "\n";
    return r.ok ? 0 : 1;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 2;
  }
}

int run_deploy(const Args& args, bool dry_run) {
  auto desc = one_shot_options(dry_run ? "haul plan MANIFEST_URL [options]   (what a deploy would do; changes nothing)"
                                       : "haul deploy MANIFEST_URL [options]");
  desc.add_options()("url", po::value<std::string>(), "manifest URL (positional)");
  if (!dry_run)
    desc.add_options()("dry-run", "fetch and verify the release, print what the deploy would do, change nothing "
                                  "(the same as haul plan)");
  try {
    auto vm = parse_args(args, desc, {"url"});
    if (vm.count("help")) {
      std::cout << desc << "\n";
      return 0;
    }
    if (!vm.count("url"))
      throw UsageError(std::string("haul ") + (dry_run ? "plan" : "deploy") +
                  " needs a manifest URL, e.g. haul " + (dry_run ? "plan" : "deploy") + " s3://bucket/manifest.yml");
    StopSignal stop, abort;
    ShutdownSignals signals(stop, &abort);
    auto selected = select_pipeline(vm);
    auto pipeline = wire_pipeline(selected);
    DeployRequest request;
    request.manifest_url = vm["url"].as<std::string>();
    request.dry_run = dry_run || vm.count("dry-run");
    DeployResult r = pipeline->run_deploy(request, abort, &stop);
    if (request.dry_run && r.ok) std::cout << r.plan << std::flush;
    return r.ok ? 0 : 1;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 2;
  }
}

}  // namespace haul
