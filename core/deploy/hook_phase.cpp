// SPDX-License-Identifier: Apache-2.0
#include "deploy/hook_phase.hpp"

#include <unistd.h>

#include <cstdlib>

#include "release/applied_release.hpp"
#include "util/error.hpp"

namespace haul {
namespace {

struct CallbackContext {
  DeployLog& log;
  StopSignal& stop;
  const std::function<void(int64_t, bool)>& on_process;
};

void hook_log(void* ctx, haul_log_level level, const char* msg) { static_cast<CallbackContext*>(ctx)->log.log(level, msg); }
int hook_cancelled(void* ctx) { return static_cast<CallbackContext*>(ctx)->stop.raised() ? 1 : 0; }
void hook_process(void* ctx, int64_t pgid, bool running) {
  auto* cb = static_cast<CallbackContext*>(ctx);
  if (cb->on_process) cb->on_process(pgid, running);
}
void hook_process_started(void* ctx, int64_t pgid) { hook_process(ctx, pgid, true); }
void hook_process_ended(void* ctx, int64_t pgid) { hook_process(ctx, pgid, false); }

// What dest runs once an outcome or a rollback is known: its record beside
// dest says, whoever wrote it (a deploy, a rollback, another process).
std::pair<std::string, uint64_t> running_in(const PhaseInfo& info) {
  if (!info.running_release.empty() || info.dest.empty()) return {info.running_release, info.running_since_unix_ms};
  if (info.phase != HAUL_PHASE_SUCCESS && info.phase != HAUL_PHASE_FAILURE && info.phase != HAUL_PHASE_ROLLBACK) return {};
  const auto applied = read_applied_release(info.dest);
  if (!applied) return {};
  // A manifest without `release:` is named by its URL, as in the status.
  return {applied->release.empty() ? applied->manifest_url : applied->release,
          static_cast<uint64_t>(applied->applied_at) * 1000};
}

}  // namespace

std::string host_name() {
  if (const char* node = std::getenv("HAUL_NODE"); node && *node) return node;
  char buf[256] = {0};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

void run_hook_phase(const std::vector<HookInstance*>& hooks, const PhaseInfo& info, DeployLog& log, StopSignal& stop) {
  const bool ending = info.phase == HAUL_PHASE_SUCCESS || info.phase == HAUL_PHASE_FAILURE;
  const std::string log_text = ending ? log.text() : "";
  std::vector<const char*> cmds;
  for (const auto& c : info.commands) cmds.push_back(c.c_str());
  const std::string release_dir = info.release_dir.empty() ? info.dest : info.release_dir;
  const std::vector<std::pair<std::string, std::string>> env_strings = {
      {"HAUL_PHASE", haul_phase_name(info.phase)},
      {"HAUL_PIPELINE", info.pipeline},
      {"HAUL_EVENT_ID", info.event_id},
      {"HAUL_MANIFEST_URL", info.manifest_url},
      {"HAUL_DEST", info.dest},
      {"HAUL_RELEASE", info.release},
      {"HAUL_RELEASE_DIR", release_dir},
      {"HAUL_PREVIOUS_RELEASE_DIR", info.previous_release_dir},
  };
  std::vector<haul_kv> env;
  for (const auto& [k, v] : env_strings) env.push_back({k.c_str(), v.c_str()});
  const std::string node = host_name();
  const auto [running, running_since] = running_in(info);
  CallbackContext cb{log, stop, info.on_process};
  haul_hook_context ctx{};
  ctx.struct_size = sizeof ctx;
  ctx.phase = info.phase;
  ctx.pipeline = info.pipeline.c_str();
  ctx.event_id = info.event_id.c_str();
  ctx.manifest_url = info.manifest_url.c_str();
  ctx.dest = info.dest.c_str();
  ctx.release_dir = release_dir.c_str();
  ctx.commands = cmds.data();
  ctx.command_count = cmds.size();
  ctx.env = env.data();
  ctx.env_count = env.size();
  ctx.deploy_log = log_text.c_str();
  ctx.deploy_log_len = log_text.size();
  ctx.error = info.error.c_str();
  ctx.log = &hook_log;
  ctx.log_ctx = &cb;
  ctx.cancelled = &hook_cancelled;
  ctx.event_ltime = info.event_ltime;
  ctx.started_at_unix_ms = info.started_at_unix_ms;
  ctx.finished_at_unix_ms = ending ? info.finished_at_unix_ms : 0;
  ctx.node = node.c_str();
  ctx.release = info.release.c_str();
  ctx.previous_release_dir = info.previous_release_dir.c_str();
  ctx.command_timeout_ms = static_cast<uint64_t>(info.command_timeout.count());
  ctx.process_started = &hook_process_started;
  ctx.process_ended = &hook_process_ended;
  ctx.running_release = running.c_str();
  ctx.running_since_unix_ms = running_since;
  for (HookInstance* hook : hooks) {
    try {
      hook->on_phase(ctx);
    } catch (const Error& e) {
      throw Error(std::string(haul_phase_name(info.phase)) + " hook " + hook->plugin().name() + ": " + e.what());
    }
  }
}

}  // namespace haul
