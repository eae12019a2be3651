// SPDX-License-Identifier: Apache-2.0
#include "deploy/rollout_gate.hpp"

#include "deploy/hook_phase.hpp"
#include "util/error.hpp"

namespace haul {

std::string rollout_name(const DeployContext& ctx) {
  if (!ctx.manifest.release.empty()) return ctx.manifest.release;
  return "manifest-" + ctx.manifest_sha256.substr(0, 16);
}

GateCall gate_call(DeployContext& ctx) {
  GateCall call;
  call.pipeline = ctx.pipeline;
  call.release = rollout_name(ctx);
  call.node = host_name();
  call.policy = ctx.rollout.policy;
  call.log = [&ctx](haul_log_level level, const std::string& msg) {
    if (level >= HAUL_LOG_ERROR) ctx.log.error(msg);
    else if (level == HAUL_LOG_WARN) ctx.log.warn(msg);
    else ctx.log.info(msg);
  };
  call.cancelled = [&ctx] { return ctx.before_start.raised(); };
  return call;
}

void wait_at_rollout_gate(DeployContext& ctx) {
  if (!ctx.rollout.gate) return;
  const GateCall call = gate_call(ctx);
  ctx.log.info("Rollout gate: release " + call.release + " of pipeline " + ctx.pipeline + ", node " + call.node);
  if (ctx.rollout.policy.rollback_on_halt && ctx.manifest.sync_strategy != SyncStrategy::release && !ctx.manifest.src.empty())
    ctx.log.warn("on_halt: rollback needs sync_strategy: release (a previous release to switch back to); if the rollout "
                 "of " + call.release + " is halted after this node deployed it, this node keeps it");
  if (ctx.rollout.gate->enter(call) == HAUL_GATE_HALTED) {
    ctx.halted = true;
    throw Error("rollout of release " + call.release + " is halted fleet-wide; this node stays on what it runs (haul "
                "rollout status --pipeline " + ctx.pipeline + " says why; haul rollout resume lets it go on)");
  }
  ctx.holds_rollout_slot = true;
}

void leave_rollout_gate(DeployContext& ctx, bool succeeded, const std::string& error, bool interrupted) {
  if (!ctx.rollout.gate || !ctx.holds_rollout_slot) return;
  ctx.holds_rollout_slot = false;
  if (interrupted) {
    ctx.log.warn("haul is stopping: this node leaves the rollout of " + rollout_name(ctx) +
                 " without an outcome (not a failure); its slot frees when its session or lease ends");
    return;
  }
  try {
    ctx.rollout.gate->leave(gate_call(ctx), succeeded, error);
  } catch (const std::exception& e) {
    ctx.log.error(std::string("cannot report this node's outcome to the rollout (its slot frees when its session "
                              "lapses): ") + e.what());
  }
}

}  // namespace haul
