// SPDX-License-Identifier: Apache-2.0
// Release management on a host, for dests deployed with sync_strategy: release:
//   haul releases DEST                 id, created, size, result, current marker
//   haul rollback DEST [--to ID]       switch current back (to the newest good
//                                      release before it, or to ID) and run
//                                      that release's manifest rollback commands
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <ctime>
#include <iomanip>
#include <iostream>

#include "pipeline/pipeline.hpp"
#include "cli/cli_common.hpp"
#include "cli/shutdown_signals.hpp"
#include "config/manifest.hpp"
#include "deploy/release_rollback.hpp"
#include "config/desired_pointer.hpp"
#include "deploy/deploy_engine.hpp"
#include "util/deploy_log.hpp"
#include "release/applied_release.hpp"
#include "release/deploy_journal.hpp"
#include "release/dest_lock.hpp"
#include "release/release_store.hpp"
#include "util/error.hpp"
#include "util/units.hpp"

namespace po = boost::program_options;

namespace haul {
namespace {

std::string when(int64_t unix_time) {
  std::time_t t = unix_time;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm);
  return buf;
}

ReleaseStore store_for(const std::string& dest) {
  ReleaseStore store(std::filesystem::absolute(dest).lexically_normal());
  if (!std::filesystem::is_directory(store.releases_dir()))
    throw Error(dest + " has no releases/ folder: is it deployed with sync_strategy: release?");
  return store;
}

// The pipeline whose hooks run the rollback commands and report the
// rollback (a status hook): --config's, else the one that deployed dest —
// recorded beside it — else the built-in default.
SelectedPipeline rollback_pipeline(const po::variables_map& vm, const std::filesystem::path& dest) {
  const auto applied = read_applied_release(dest);
  // Status hooks report as the node that deployed dest, not as the shell's
  // hostname (an agent under systemd gets HAUL_NODE from its environment).
  const char* node = std::getenv("HAUL_NODE");
  if (applied && !applied->node.empty() && (!node || !*node)) setenv("HAUL_NODE", applied->node.c_str(), 1);
  if (vm.count("config")) return select_pipeline(vm);
  if (applied && !applied->config.empty() && !applied->pipeline.empty()) {
    try {
      SelectedPipeline s = select_pipeline_of(applied->config, applied->pipeline);
      spdlog::info("using pipeline {} of {} (it deployed {}): its hooks run the rollback commands and report the rollback",
                   applied->pipeline, applied->config, dest.string());
      return s;
    } catch (const std::exception& e) {
      spdlog::warn("pipeline {} of {} deployed {}, but it cannot be used ({}); the rollback runs the built-in default "
                   "pipeline's hooks (--config FILE --pipeline NAME names another)",
                   applied->pipeline, applied->config, dest.string(), e.what());
    }
  }
  return select_pipeline(vm);
}

// What the pipeline's desired-release pointer names now (the pin is held
// against it); "" without one, or when it cannot be read (said so).
std::string desired_release_of(const Pipeline& p, StopSignal& stop) {
  if (p.desired.empty()) return "";
  try {
    DeployLog log(p.name);
    return parse_desired_pointer(fetch_text(p.sources, p.desired, fetch_policy_for(p.deploy), stop, log), p.desired).release;
  } catch (const std::exception& e) {
    spdlog::warn("cannot read the desired release {} ({}); the pin is against the release rolled back from", p.desired,
                 e.what());
    return "";
  }
}

}  // namespace

int run_releases(const Args& args) {
  po::options_description desc("haul releases DEST");
  desc.add_options()("dest", po::value<std::string>(), "the manifest's dest (positional)");
  desc.add(common_options());
  return run_command(args, desc, {"dest"}, [&](const po::variables_map& vm) {
    if (!vm.count("dest")) throw UsageError("haul releases needs the dest, e.g. haul releases /var/www/app");
    ReleaseStore store = store_for(vm["dest"].as<std::string>());
    if (auto j = DeployJournal(store.dest()).read())
      std::cout << "note: a deploy of release " << j->release << " (pid " << j->pid << ") is running or was interrupted during "
                << j->phase << "\n";
    const auto current = store.current_id();
    std::cout << std::left << "  " << std::setw(32) << "ID" << std::setw(22) << "CREATED" << std::setw(10) << "SIZE"
              << "RESULT\n";
    for (const auto& r : store.list())
      std::cout << (current && *current == r.id ? "* " : "  ") << std::setw(32) << r.id << std::setw(22)
                << when(r.created_unix) << std::setw(10) << format_bytes(r.size_bytes) << r.result << "\n";
    return 0;
  }, "haul releases: ", /*failed_code=*/2);
}

int run_rollback(const Args& args) {
  po::options_description desc("haul rollback DEST [--to ID]");
  desc.add_options()
      ("dest", po::value<std::string>(), "the manifest's dest (positional)")
      ("to", po::value<std::string>(), "release to switch to (default: the newest good release before current)")
      ("force", "roll back even to a release whose deploy failed (its post or verify failed, or it was interrupted)")
      ("config", po::value<std::string>(), "pipeline config whose hooks run the rollback commands")
      ("pipeline", po::value<std::string>(), "which pipeline of --config");
  desc.add(common_options());
  return run_command(args, desc, {"dest"}, [&](const po::variables_map& vm) {
    if (!vm.count("dest")) throw UsageError("haul rollback needs the dest, e.g. haul rollback /var/www/app");
    StopSignal stop;
    ShutdownSignals signals(stop);
    ReleaseStore store = store_for(vm["dest"].as<std::string>());
    const auto selected = rollback_pipeline(vm, store.dest());
    DestLock lock(store.dest() / ".haul" / "lock", selected.pipeline.deploy.lock_timeout, stop);
    const auto current = store.current_id();
    const auto releases = store.list();  // newest first
    std::string target;
    if (vm.count("to")) {
      target = vm["to"].as<std::string>();
      if (!std::filesystem::is_directory(store.release_dir(target))) {
        std::string ids;
        for (const auto& r : releases) ids += (ids.empty() ? "" : ", ") + r.id;
        throw Error("no release " + target + " in " + store.releases_dir().string() + "; there are: " + ids);
      }
      const auto meta = store.meta(target);
      if (meta && meta->result == "pruning")
        throw Error("release " + target + " was being pruned when haul was interrupted: it is incomplete and cannot be "
                    "rolled back to (the next deploy to " + store.dest().string() + " removes it)");
      // A release whose own deploy failed was never good here; an operator's
      // rolled-back release was.
      if (meta && meta->result != "success" && meta->result != "rolled-back") {
        const std::string what = "release " + target + " did not deploy well here (result: " + meta->result + ")";
        if (!vm.count("force"))
          throw Error(what + "; rolling back to it needs --force (haul releases " + store.dest().string() +
                      " lists each release's result)");
        spdlog::warn("{}; rolling back to it anyway (--force)", what);
      }
    } else {
      target = ReleaseStore::previous_good(releases, current).value_or("");
      if (target.empty()) {
        // Releases an operator rolled back from are not taken by default
        // (someone turned away from them), but may be named.
        std::string turned;
        for (const auto& r : releases)
          if (r.result == "rolled-back" && (!current || r.id != *current)) turned += (turned.empty() ? "" : ", ") + r.id;
        throw Error("no good release before " + current.value_or("(none)") + " to roll back to (see haul releases " +
                    store.dest().string() + ")" +
                    (turned.empty() ? "" : "; an operator rolled back from " + turned + " — name one with --to ID if you "
                                           "mean it") +
                    (turned.empty() ? "; name one with --to ID" : ""));
      }
    }
    if (current && *current == target) throw Error("current already points at " + target);
    auto pipeline = wire_pipeline(selected);
    switch_back(store, target, current, pipeline->name, pipeline->hook_ptrs(), stop, desired_release_of(*pipeline, stop));
    return 0;
  }, "haul rollback: ");
}

}  // namespace haul
