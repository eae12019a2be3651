// SPDX-License-Identifier: Apache-2.0
#include "deploy/deploy_hooks.hpp"

#include "deploy/journal_scope.hpp"

namespace haul {
namespace {

void call_hooks(DeployContext& ctx, haul_phase phase, const std::vector<std::string>& commands, const std::string& error,
                JournalScope* journal, StopSignal& stop) {
  PhaseInfo info;
  info.phase = phase;
  info.commands = commands;
  info.pipeline = ctx.pipeline;
  info.event_id = ctx.request.event_id;
  info.event_ltime = ctx.request.event_ltime;
  info.manifest_url = ctx.request.manifest_url;
  info.dest = ctx.manifest.dest;
  info.release = ctx.release_name();
  info.release_dir = ctx.release_dir;
  info.previous_release_dir = ctx.previous_dir;
  info.error = error;
  info.started_at_unix_ms = ctx.started_at_ms;
  info.finished_at_unix_ms = ctx.finished_at_ms;
  info.command_timeout = ctx.manifest.command_timeout;
  if (journal) info.on_process = [journal](int64_t pgid, bool running) { journal->process(pgid, running); };
  ctx.log.set_field("phase", haul_phase_name(phase));
  struct PhaseDone {
    DeployLog& log;
    ~PhaseDone() { log.set_field("phase", ""); }
  } done{ctx.log};
  run_hook_phase(ctx.hooks, info, ctx.log, stop);
}

}  // namespace

void run_phase(DeployContext& ctx, haul_phase phase, const std::vector<std::string>& commands, JournalScope* journal,
               StopSignal* stop) {
  call_hooks(ctx, phase, commands, "", journal, stop ? *stop : ctx.abort);
}

void run_outcome_phase(DeployContext& ctx, haul_phase phase, const std::vector<std::string>& commands,
                       const std::string& error) {
  StopSignal never;
  try {
    call_hooks(ctx, phase, commands, error, nullptr, never);
  } catch (const std::exception& e) {
    ctx.log.error(e.what());
  }
}

}  // namespace haul
