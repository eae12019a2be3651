// Release management on a host, for dests deployed with sync_strategy: release:
//   haul releases DEST                 id, created, size, result, current marker
//   haul rollback DEST [--to ID]       switch current back (to the newest good
//                                      release before it, or to ID) and run
//                                      that release's manifest rollback commands
#include <spdlog/spdlog.h>

#include <ctime>
#include <iomanip>
#include <iostream>

#include "pipeline/pipeline.hpp"
#include "cli/cli_common.hpp"
#include "cli/shutdown_signals.hpp"
#include "config/manifest.hpp"
#include "deploy/hook_phase.hpp"
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

// What dest runs is now the target; the desired-release check leaves it so
// until the pointer names another release than the one rolled back from.
void pin_rollback(const std::filesystem::path& dest, const std::string& target, const ReleaseMeta& meta,
                  const Manifest& manifest, const std::string& from) {
  AppliedRelease r;
  const auto before = read_applied_release(dest);
  r.release = manifest.release.empty() ? target : manifest.release;
  r.created_at = manifest.created_at;
  r.manifest_url = meta.manifest_url;
  r.applied_at = static_cast<int64_t>(std::time(nullptr));
  r.pinned_from = before && !before->release.empty() ? before->release : from;
  try {
    write_applied_release(dest, r);
    spdlog::info("pinned {} to release {} until the desired release changes from {}", dest.string(), target,
                 r.pinned_from);
  } catch (const std::exception& e) {
    spdlog::warn("cannot record the rollback: {}", e.what());
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
      ("config", po::value<std::string>(), "pipeline config whose hooks run the rollback commands")
      ("pipeline", po::value<std::string>(), "which pipeline of --config");
  desc.add(common_options());
  return run_command(args, desc, {"dest"}, [&](const po::variables_map& vm) {
    if (!vm.count("dest")) throw UsageError("haul rollback needs the dest, e.g. haul rollback /var/www/app");
    StopSignal stop;
    ShutdownSignals signals(stop);
    ReleaseStore store = store_for(vm["dest"].as<std::string>());
    auto selected = select_pipeline(vm);
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
      if (auto m = store.meta(target); m && m->result == "pruning")
        throw Error("release " + target + " was being pruned when haul was interrupted: it is incomplete and cannot be "
                    "rolled back to (the next deploy to " + store.dest().string() + " removes it)");
    } else {
      target = ReleaseStore::previous_good(releases, current).value_or("");
      if (target.empty())
        throw Error("no good release before " + current.value_or("(none)") + " to roll back to (see haul releases " +
                    store.dest().string() + "); name one with --to ID");
    }
    if (current && *current == target) throw Error("current already points at " + target);
    store.switch_to(target);
    spdlog::info("rolled back {}: current -> releases/{} (was {})", store.dest().string(), target, current.value_or("none"));
    if (current)
      store.set_result(*current, "rolled-back");
    // The target release's own manifest says how to bring it back up.
    auto meta = store.meta(target);
    if (!meta || meta->manifest.empty()) {
      spdlog::warn("release {} has no recorded manifest: no rollback commands to run", target);
      return 0;
    }
    Manifest manifest = parse_manifest(meta->manifest, meta->manifest_url.empty() ? target : meta->manifest_url);
    pin_rollback(store.dest(), target, *meta, manifest, current.value_or(""));
    if (manifest.commands.rollback.empty()) return 0;
    auto pipeline = wire_pipeline(selected);
    DeployLog log(pipeline->name);
    PhaseInfo info;
    info.phase = HAUL_PHASE_ROLLBACK;
    info.commands = manifest.commands.rollback;
    info.pipeline = pipeline->name;
    info.manifest_url = meta->manifest_url;
    info.dest = store.dest().string();
    info.release = target;
    info.release_dir = store.release_dir(target).string();
    info.previous_release_dir = current ? store.release_dir(*current).string() : "";
    info.command_timeout = manifest.command_timeout;
    run_hook_phase(pipeline->hook_ptrs(), info, log, stop);
    return 0;
  }, "haul rollback: ");
}

}  // namespace haul
