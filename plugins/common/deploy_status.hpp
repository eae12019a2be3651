// What a fleet-status hook writes for one deploy (consul-status,
// etcd-status): the same JSON document whatever the store, so `haul status`
// reads both alike. Header-only; needs nlohmann/json.
#pragma once

#include <haul/sdk.hpp>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace haul::plugins {

// The core's rule for a node's name: the config's, else HAUL_NODE, else the hostname.
inline std::string status_node_name(const std::string& configured) {
  if (!configured.empty()) return configured;
  if (const char* node = std::getenv("HAUL_NODE"); node && *node) return node;
  char buf[256] = {0};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

// Written at success and failure only; the last log_tail bytes of the log.
inline nlohmann::json deploy_status(const haul::sdk::HookContext& ctx, const std::string& node, size_t log_tail) {
  const std::string_view log = ctx.deploy_log();
  return {
      {"node", node},
      {"pipeline", ctx.pipeline()},
      {"event_id", ctx.event_id()},
      {"event_ltime", ctx.event_ltime()},
      {"manifest_url", ctx.manifest_url()},
      {"release", ctx.release().empty() ? ctx.manifest_url() : ctx.release()},
      {"result", ctx.phase() == HAUL_PHASE_SUCCESS ? "success" : "failure"},
      {"started_at_unix_ms", ctx.started_at_unix_ms()},
      {"finished_at_unix_ms", ctx.finished_at_unix_ms()},
      {"duration_ms", ctx.finished_at_unix_ms() - ctx.started_at_unix_ms()},
      {"error", ctx.error()},
      {"log_tail", std::string(log.substr(log.size() > log_tail ? log.size() - log_tail : 0))},
  };
}

}  // namespace haul::plugins
