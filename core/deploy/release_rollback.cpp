// SPDX-License-Identifier: Apache-2.0
#include "deploy/release_rollback.hpp"

#include <spdlog/spdlog.h>

#include <ctime>

#include "config/manifest.hpp"
#include "util/deploy_log.hpp"
#include "deploy/hook_phase.hpp"
#include "release/applied_release.hpp"
#include "util/digest.hpp"
#include "release/dest_lock.hpp"
#include "deploy/deploy_engine.hpp"

namespace haul {
namespace {

// What dest runs is now the target; the desired-release check leaves it so
// until the pointer names another release than the one rolled back from.
void pin_rollback(const std::filesystem::path& dest, const std::string& target, const ReleaseMeta& meta,
                  const Manifest& manifest, const std::string& from, const std::string& desired) {
  AppliedRelease r;
  const auto before = read_applied_release(dest);
  r.release = manifest.release.empty() ? target : manifest.release;
  r.created_at = manifest.created_at;
  r.manifest_url = meta.manifest_url;
  r.manifest_sha256 = sha256_hex(meta.manifest);  // the bytes that release was deployed from
  r.applied_at = static_cast<int64_t>(std::time(nullptr));
  if (before) r.pipeline = before->pipeline, r.config = before->config, r.node = before->node;
  // The pin is against what the pointer names when the operator first
  // rolls back (which may be a release that failed here and never ran); a
  // second rollback keeps it — not the release in between.
  if (before && !before->pinned_from.empty()) r.pinned_from = before->pinned_from;
  else if (!desired.empty()) r.pinned_from = desired;
  else r.pinned_from = before && !before->release.empty() ? before->release : from;
  // Back on the release pinned against: nothing left to hold.
  if (r.pinned_from == r.release) r.pinned_from.clear();
  try {
    write_applied_release(dest, r);
    if (r.pinned_from.empty())
      spdlog::info("{} runs release {}, what the desired release names: no pin", dest.string(), r.release);
    else
      spdlog::info("pinned {} to release {} until the desired release changes from {}", dest.string(), target,
                   r.pinned_from);
  } catch (const std::exception& e) {
    spdlog::warn("cannot record the rollback: {}", e.what());
  }
}

}  // namespace

void switch_back(ReleaseStore& store, const std::string& target, const std::optional<std::string>& current,
                 const std::string& pipeline, const std::vector<HookInstance*>& hooks, StopSignal& stop,
                 const std::string& desired) {
  store.switch_to(target);
  spdlog::info("rolled back {}: current -> releases/{} (was {})", store.dest().string(), target, current.value_or("none"));
  // A release that failed here stays "failure" (a rollback to it needs
  // --force); a good one is now one an operator rolled back from.
  if (current) {
    const auto left = store.meta(*current);
    if (!left || left->result == "success") store.set_result(*current, "rolled-back");
  }
  // The target release's own manifest says how to bring it back up.
  auto meta = store.meta(target);
  if (!meta || meta->manifest.empty()) {
    spdlog::warn("release {} has no recorded manifest: no rollback commands to run", target);
    return;
  }
  Manifest manifest = parse_manifest(meta->manifest, meta->manifest_url.empty() ? target : meta->manifest_url);
  pin_rollback(store.dest(), target, *meta, manifest, current.value_or(""), desired);
  // Hooks are told even without commands: a status hook reports what runs now.
  DeployLog log(pipeline);
  PhaseInfo info;
  info.phase = HAUL_PHASE_ROLLBACK;
  info.commands = manifest.commands.rollback;
  info.pipeline = pipeline;
  info.manifest_url = meta->manifest_url;
  info.dest = store.dest().string();
  info.release = target;
  info.release_dir = store.release_dir(target).string();
  info.previous_release_dir = current ? store.release_dir(*current).string() : "";
  info.command_timeout = manifest.command_timeout;
  run_hook_phase(hooks, info, log, stop);
}

bool undo_halted_release(const HaltedRelease& h, const std::vector<HookInstance*>& hooks,
                         std::chrono::milliseconds lock_timeout, StopSignal& stop) {
  ReleaseStore store(h.dest);
  DestLock lock(store.dest() / ".haul" / "lock", lock_timeout, stop);
  const auto current = store.current_id();
  if (!current || *current != h.release_id) {
    spdlog::info("[{}] rollout of {} was halted; {} has moved on to {} since: nothing to roll back", h.pipeline,
                 h.rollout_release, h.dest, current.value_or("(none)"));
    return false;
  }
  if (h.previous_id.empty()) {
    spdlog::error("[{}] rollout of {} was halted, but {} had no release before {}: it stays", h.pipeline,
                  h.rollout_release, h.dest, h.release_id);
    return false;
  }
  const std::string why = "rollout of release " + h.rollout_release + " was halted fleet-wide (on_halt: rollback)";
  DeployLog log(h.pipeline);
  log.warn(why + ": rolling " + h.dest + " back to " + h.previous_id);
  const uint64_t started = unix_ms_now();
  switch_back(store, h.previous_id, current, h.pipeline, hooks, stop);
  PhaseInfo info;
  info.phase = HAUL_PHASE_FAILURE;
  info.pipeline = h.pipeline;
  info.dest = h.dest;
  info.release = h.rollout_release;
  info.release_dir = store.release_dir(h.previous_id).string();
  info.previous_release_dir = store.release_dir(h.release_id).string();
  info.error = why + "; rolled back to " + h.previous_id;
  info.started_at_unix_ms = started;
  info.finished_at_unix_ms = unix_ms_now();
  try {
    run_hook_phase(hooks, info, log, stop);
  } catch (const std::exception& e) {
    spdlog::error("[{}] failure hooks after the rollback: {}", h.pipeline, e.what());
  }
  return true;
}

}  // namespace haul
