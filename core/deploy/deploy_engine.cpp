// SPDX-License-Identifier: Apache-2.0
// The deploy's story, in one place: place() is the order every deploy
// follows and deploy() the whole run around it, at the end of the unnamed
// namespace below. Each step is a stage of its own (deploy_context.hpp);
// what depends on the sync strategy is a Placement (placement.hpp).
#include "deploy/deploy_engine.hpp"

#include <ctime>
#include <memory>
#include <random>

#include "deploy/deploy_context.hpp"
#include "deploy/deploy_hooks.hpp"
#include "deploy/hook_phase.hpp"
#include "deploy/intake.hpp"
#include "deploy/placement.hpp"
#include "deploy/plan_report.hpp"
#include "deploy/release_placement.hpp"
#include "deploy/rollout_gate.hpp"
#include "deploy/sync_placement.hpp"
#include "release/applied_release.hpp"
#include "util/error.hpp"
#include "util/units.hpp"

namespace haul {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// Spreads a fleet's downloads; a shutdown request ends the wait.
void random_delay(DeployContext& ctx) {
  const auto limit = ctx.options.random_delay;
  if (limit.count() <= 0) return;
  std::mt19937_64 rng(std::random_device{}());
  std::uniform_int_distribution<long long> dist(0, limit.count() - 1);
  const std::chrono::milliseconds d(dist(rng));
  ctx.log.info("Sleep " + format_duration(d) + " (random delay up to " + format_duration(limit) + ")");
  if (!ctx.before_start.sleep_for(d)) throw Error("cancelled during the random delay: haul is shutting down");
}

// dest's strategy, with dest's lock and journal held until the deploy ends.
std::unique_ptr<Placement> placement_for(DeployContext& ctx) {
  const Manifest& m = ctx.manifest;
  if (m.src.empty()) return commands_only(ctx);
  const fs::path dest = fs::absolute(m.dest).lexically_normal();
  std::error_code ec;
  fs::create_directories(dest.parent_path(), ec);
  if (ec) throw Error("cannot create the parent of dest " + dest.string() + ": " + ec.message());
  return m.sync_strategy == SyncStrategy::release ? release_placement(ctx, dest) : sync_placement(ctx, dest);
}

// What is true of dest after a failed or aborted deploy, per strategy.
std::string where_dest_is(const DeployContext& ctx) {
  const std::string dest = "dest " + ctx.manifest.dest;
  const bool release = ctx.manifest.sync_strategy == SyncStrategy::release;
  switch (ctx.dest_state) {
    case DeployContext::DestState::untouched:
      return dest + " is as it was: the deploy stopped before placing anything";
    case DeployContext::DestState::changing:
      return dest + " was being " + (ctx.manifest.sync_strategy == SyncStrategy::rsync ? "synced" : "moved into place") +
             " when the deploy failed: it holds part of the new release (the journal beside it says so; the next "
             "deploy of it finishes the job)";
    case DeployContext::DestState::placed:
      return release ? dest + ": current points at the new release " + ctx.release_id + " (there was none to go back to, "
                              "or switching back failed: see above)"
                     : dest + " holds the new release's files, but the deploy did not finish after placing them "
                              "(post commands cut short): deploy again, or run them by hand";
    case DeployContext::DestState::rolled_back:
      return dest + ": current points at the previous release again (" + ctx.previous_dir + ")";
  }
  return dest;
}

// What dest runs, beside it: the downgrade guard's reference, the desired
// release check's, and the sign that haul has deployed there before.
void record_applied(DeployContext& ctx) {
  const Manifest& m = ctx.manifest;
  if (m.dest.empty() || m.src.empty()) return;
  AppliedRelease r;
  r.release = ctx.release_name();
  r.created_at = m.created_at;
  r.manifest_url = ctx.request.manifest_url;
  r.manifest_sha256 = ctx.manifest_sha256;
  r.applied_at = static_cast<int64_t>(std::time(nullptr));
  r.pipeline = ctx.pipeline;
  r.node = host_name();
  // The same release from the same manifest again (a no-op event): it has
  // run since it was first placed, and an operator's pin still holds.
  if (const auto before = read_applied_release(m.dest);
      before && before->release == r.release && before->manifest_sha256 == r.manifest_sha256) {
    r.applied_at = before->applied_at;
    r.pinned_from = before->pinned_from;
  }
  if (ctx.owner) r.config = ctx.owner->config;
  try {
    write_applied_release(m.dest, r);
  } catch (const std::exception& e) {
    ctx.log.warn(std::string("cannot record the applied release: ") + e.what());
  }
}

// The deploy's result as it becomes known, recorded in one place: its
// timing, what it fetched and placed, and the JSON log's outcome fields.
class Outcome {
 public:
  explicit Outcome(DeployContext& ctx) : ctx_(ctx), start_(Clock::now()) {
    ctx.started_at_ms = result_.started_at_unix_ms = unix_ms_now();
    ctx.log.set_field("event_id", ctx.request.event_id);
  }

  // Nothing deployed: the manifest was applied already, or only planned.
  DeployResult skipped(std::string plan = "") {
    result_.ok = result_.skipped = true;
    result_.plan = std::move(plan);
    finish();
    return done();
  }
  void succeeded() {
    fields("success");
    ctx_.log.info("Deploy manifest succeeded.");
    result_.ok = true;
  }
  void failed(const std::string& error) {
    result_.error = error;
    fields(ctx_.before_start.raised() ? "interrupted" : "failure");
    ctx_.log.error("Deploy manifest failed: " + error);
    if (!ctx_.manifest.dest.empty() && !ctx_.manifest.src.empty()) ctx_.log.warn(where_dest_is(ctx_));
    // Cut short by a shutdown: not the release's outcome, so not a failure
    // that counts toward a halt (the node's session frees its slot).
    result_.interrupted = ctx_.before_start.raised();
  }
  const DeployResult& result() const { return result_; }

  // Before the outcome hooks: they are told when the deploy finished.
  void finish() {
    ctx_.finished_at_ms = result_.finished_at_unix_ms = unix_ms_now();
    result_.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start_);
    result_.manifest_sha256 = ctx_.manifest_sha256;
    result_.release = ctx_.release_name().empty() ? ctx_.request.manifest_url : ctx_.release_name();
    result_.bytes_fetched = ctx_.bytes_fetched;
    result_.halted = ctx_.halted;
    if (ctx_.rollout.gate && !ctx_.manifest_sha256.empty()) result_.rollout_release = rollout_name(ctx_);
    if (result_.ok && ctx_.switched) {
      result_.dest = fs::absolute(ctx_.manifest.dest).lexically_normal().string();
      result_.release_id = ctx_.release_id;
      result_.previous_release_id = ctx_.previous_id;
    }
  }
  DeployResult done() {
    result_.log = ctx_.log.text();
    return std::move(result_);
  }

 private:
  void fields(const char* outcome) {
    ctx_.log.set_field("phase", "");
    ctx_.log.set_field("release", ctx_.release_name());
    ctx_.log.set_field("outcome", outcome);
    ctx_.log.set_field("duration_ms", std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                         Clock::now() - start_)
                                                         .count()));
  }

  DeployContext& ctx_;
  const Clock::time_point start_;
  DeployResult result_;
};

// The order of every deploy, whatever its strategy (placement.hpp).
void place(DeployContext& ctx) {
  const Commands& commands = ctx.manifest.commands;
  const std::unique_ptr<Placement> p = placement_for(ctx);
  if (!p->stage()) return;  // fetched, verified, extracted beside dest; false: dest already runs it
  wait_at_rollout_gate(ctx);  // a slot in the rollout, or a halt: dest untouched either way
  try {
    p->prepare();
    run_phase(ctx, HAUL_PHASE_PRE, commands.pre, p->journal("pre"));
    p->commit();  // dest changes here
    run_phase(ctx, HAUL_PHASE_POST, commands.post, p->journal("post"));
    if (p->can_undo()) run_phase(ctx, HAUL_PHASE_VERIFY, commands.verify, p->journal("verify"));
    p->settle();
  } catch (const std::exception& e) {
    p->fail(e.what());
    throw;
  }
}

// One deploy, start to end: the story the README tells.
DeployResult deploy(DeployContext& ctx) {
  Outcome outcome(ctx);
  try {
    if (!ctx.request.dry_run) random_delay(ctx);
    const Intake intake = take_in_manifest(ctx);  // fetched, verified, pinned
    ctx.log.set_field("release", ctx.release_name());
    if (intake == Intake::already_applied) return outcome.skipped();
    if (ctx.request.dry_run) return outcome.skipped(plan_report(ctx));
    place(ctx);  // lock, journal, stage, gate, pre, commit, post, verify
    outcome.succeeded();
    record_applied(ctx);
  } catch (const std::exception& e) {
    outcome.failed(e.what());
  }
  const DeployResult& r = outcome.result();
  leave_rollout_gate(ctx, r.ok, r.error, r.interrupted);
  outcome.finish();
  if (r.ok)
    run_outcome_phase(ctx, HAUL_PHASE_SUCCESS, ctx.manifest.commands.success, "");
  else
    run_outcome_phase(ctx, HAUL_PHASE_FAILURE, ctx.manifest.commands.failure, r.error);
  return outcome.done();
}

}  // namespace

FetchPolicy fetch_policy_for(const DeployOptions& options) {
  FetchPolicy p;
  p.retry = options.retry;
  p.retry_wait = options.retry_wait;
  p.retry_missing = options.retry_missing;
  p.timeout = options.timeout;
  p.max_bandwidth_bytes_per_s = options.max_bandwidth_bytes_per_s;
  return p;
}

uint64_t unix_ms_now() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

DeployEngine::DeployEngine(std::string pipeline, const SourceSet& sources, std::vector<HookInstance*> hooks,
                           DeployOptions options, RolloutGate rollout, DestOwner owner)
    : pipeline_(std::move(pipeline)), sources_(sources), hooks_(std::move(hooks)), options_(std::move(options)),
      rollout_(rollout), owner_(std::move(owner)) {}

DeployResult DeployEngine::run(const DeployRequest& request, StopSignal& abort, StopSignal* stopping) {
  DeployContext ctx(pipeline_, sources_, hooks_, options_, request, abort, rollout_);
  ctx.owner = &owner_;
  // Before dest is touched, a shutdown request (or an abort) cancels the
  // deploy; after, only an abort does.
  struct Listening {
    StopSignal* signal;
    int id;
    ~Listening() {
      if (signal) signal->unlisten(id);
    }
  };
  auto raise = [&ctx] { ctx.before_start.raise(); };
  const Listening on_abort{&abort, abort.listen(raise)};
  const Listening on_stopping{stopping, stopping ? stopping->listen(raise) : 0};
  return deploy(ctx);
}

}  // namespace haul
