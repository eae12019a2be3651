// SPDX-License-Identifier: Apache-2.0
// What a fleet-status hook (consul-status, etcd-status) writes, whatever the
// store, so that `haul status` reads both alike. Header-only; needs
// nlohmann/json.
//
// Keys, under the hook's prefix (haul):
//   status/<namespace>/<pipeline>/<node>  one document per node and pipeline:
//       what the node runs (running_release, since when) and its last
//       attempt (release, result, error, times, the log's tail) beside it
//   heartbeat/<node>   exists while the node's agent lives (a Consul session
//       or an etcd lease holds it); its value names the process holding it
//   seen/<node>        when the agent last said it was up (refreshed every
//       seen_interval): how long a dead node has been gone
// Status documents of haul before namespaces lived at
// status/<pipeline>/<node>; a hook removes its own when it first writes.
#pragma once

#include <haul/sdk.hpp>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>

#include "util/process_identity.hpp"

namespace haul::plugins {

// The core's rule for a node's name: the config's, else HAUL_NODE, else the hostname.
inline std::string status_node_name(const std::string& configured) {
  if (!configured.empty()) return configured;
  if (const char* node = std::getenv("HAUL_NODE"); node && *node) return node;
  char buf[256] = {0};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

inline uint64_t unix_ms_now() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch()).count());
}

struct StatusKeys {
  std::string prefix, ns, node;
  std::string status(const std::string& pipeline) const { return prefix + "/status/" + ns + "/" + pipeline + "/" + node; }
  std::string legacy_status(const std::string& pipeline) const { return prefix + "/status/" + pipeline + "/" + node; }
  std::string heartbeat() const { return prefix + "/heartbeat/" + node; }
  std::string seen() const { return prefix + "/seen/" + node; }
};

// The phases a status hook reports: a deploy's outcome, and a rollback
// (an operator's `haul rollback`, a halted rollout's, a failed verify's).
inline bool reports(haul_phase phase) {
  return phase == HAUL_PHASE_SUCCESS || phase == HAUL_PHASE_FAILURE || phase == HAUL_PHASE_ROLLBACK;
}

// heartbeat: whether this node keeps a heartbeat key (a long-running agent
// with heartbeat_ttl > 0); without one, `haul status` cannot tell whether
// it is alive and says so instead of "NO".
inline nlohmann::json deploy_status(const haul::sdk::HookContext& ctx, const StatusKeys& keys, size_t log_tail,
                                    bool heartbeat) {
  const std::string_view log = ctx.deploy_log();
  const char* result = ctx.phase() == HAUL_PHASE_SUCCESS ? "success"
                       : ctx.phase() == HAUL_PHASE_FAILURE ? "failure"
                                                            : "rolled-back";
  const uint64_t finished = ctx.finished_at_unix_ms() ? ctx.finished_at_unix_ms() : unix_ms_now();
  return {
      {"schema", 2},
      {"namespace", keys.ns},
      {"node", keys.node},
      {"pipeline", ctx.pipeline()},
      {"running_release", ctx.running_release()},
      {"running_since_unix_ms", ctx.running_since_unix_ms()},
      {"heartbeat", heartbeat},
      // The last attempt:
      {"event_id", ctx.event_id()},
      {"event_ltime", ctx.event_ltime()},
      {"manifest_url", ctx.manifest_url()},
      {"release", ctx.release().empty() ? ctx.manifest_url() : ctx.release()},
      {"result", result},
      {"started_at_unix_ms", ctx.started_at_unix_ms() ? ctx.started_at_unix_ms() : finished},
      {"finished_at_unix_ms", finished},
      {"duration_ms", ctx.started_at_unix_ms() ? finished - ctx.started_at_unix_ms() : 0},
      {"error", ctx.error()},
      {"log_tail", std::string(log.substr(log.size() > log_tail ? log.size() - log_tail : 0))},
  };
}

// The heartbeat key's value: who holds it, so that a restarted agent can
// tell its own killed run (same host, same boot, that process gone) from a
// live agent elsewhere using the same node name.
inline nlohmann::json heartbeat_value(const std::string& node, const std::string& version) {
  const ProcessIdentity me = this_process();
  return {{"node", node},     {"version", version},        {"pid", me.pid},
          {"boot_id", me.boot_id}, {"start_ticks", me.start_ticks}, {"started_at_unix_ms", unix_ms_now()}};
}

// Whether a heartbeat value names a process of this host (this boot).
inline bool heartbeat_holder_on_this_host(const std::string& value) {
  const auto j = nlohmann::json::parse(value, nullptr, false);
  const auto boot = j.is_object() ? j.find("boot_id") : j.end();
  return j.is_object() && boot != j.end() && boot->is_string() && boot->get<std::string>() == current_boot_id();
}

// Whether a heartbeat value names a process of this host that is provably
// gone (killed, and not running again under that pid).
inline bool heartbeat_holder_gone(const std::string& value) {
  const auto j = nlohmann::json::parse(value, nullptr, false);
  if (!j.is_object()) return false;
  try {
    ProcessIdentity who;
    who.pid = j.value("pid", int64_t{0});
    who.start_ticks = j.value("start_ticks", uint64_t{0});
    who.boot_id = j.value("boot_id", "");
    return provably_gone(who);
  } catch (const nlohmann::json::exception&) {
    return false;  // not a value haul wrote: nothing is provable
  }
}

// interval: when the next refresh is due at the latest (0: the agent
// stopped cleanly just now); a reader counts a node gone only after it.
inline std::string seen_value(const std::string& node, const std::string& version, std::chrono::milliseconds interval) {
  return nlohmann::json{{"node", node},
                        {"version", version},
                        {"seen_at_unix_ms", unix_ms_now()},
                        {"next_within_ms", static_cast<uint64_t>(interval.count())}}
      .dump();
}

}  // namespace haul::plugins
