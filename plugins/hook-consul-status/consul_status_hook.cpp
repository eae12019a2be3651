// SPDX-License-Identifier: Apache-2.0
// Hook "consul-status": fleet status without a central server. After every
// deploy (success and failure) and every rollback it writes the node's
// status document (common/deploy_status.hpp: what the node runs, and its
// last attempt beside it) to Consul KV, and, in a long-running agent, keeps
// the node's heartbeat key under a Consul session with a TTL (renewed at
// TTL/2, behaviour "delete", no lock delay): when the agent dies the session
// lapses and the key disappears, so `haul status` can tell a dead agent
// from a live one.
//
// Every KV write that answers true or false is checked. An agent's
// pipelines share one heartbeat (common/shared_heartbeat.hpp). A restarted agent
// finds its heartbeat key still held by its killed run's session: the key's
// value names that process (pid, start time, boot), so when it is provably
// gone — this host, this boot, not running — the stale session is destroyed
// and the key taken at once; otherwise (a reboot, or another host using the
// same node name) the key is taken as soon as it is free, and the log says
// who holds it.
#include <haul/sdk.hpp>
#include <nlohmann/json.hpp>

#include <mutex>

#include "../common/deploy_status.hpp"
#include "../common/shared_heartbeat.hpp"
#include "../common/ticker.hpp"
#include "net/consul_api.hpp"

namespace {

using namespace haul::net;
using haul::plugins::unix_ms_now;

// The node's heartbeat key under a Consul session, and its seen-record.
class ConsulHeartbeat {
 public:
  ConsulHeartbeat(ConsulSettings settings, const haul::sdk::Host& host, haul::plugins::StatusKeys keys,
                  std::chrono::milliseconds ttl, std::chrono::milliseconds seen_interval)
      : host_(host), keys_(std::move(keys)), ttl_(ttl), seen_interval_(seen_interval), api_(std::move(settings)),
        ticker_(std::make_unique<haul::plugins::Ticker>(ttl_ / 2, [this] { beat(); })) {}

  ~ConsulHeartbeat() {
    ticker_.reset();
    if (session_.empty()) return;
    try {
      // Stopped now: `haul status --gone-after` counts from here.
      if (holding_) put(keys_.seen(), haul::plugins::seen_value(keys_.node, host_.version(), {}));
      api_.call("PUT", "/v1/session/destroy/" + session_, "", std::chrono::seconds(5));
    } catch (...) {
    }
  }

  // A plain PUT answers true; anything else is a write that did not happen.
  void put(const std::string& key, const std::string& value) {
    const HttpResponse r = api_.call_ok("PUT", "/v1/kv/" + key, value);
    if (haul::sdk::trim(r.body) != "true")
      throw std::runtime_error("Consul did not write " + key + " (answered " + haul::sdk::trim(r.body) + ")");
  }

 private:
  // One heartbeat: a session the first time (or after it lapsed while
  // Consul was away), the key taken under it, the session renewed after.
  void beat() {
    try {
      if (!session_.empty() && api_.call("PUT", "/v1/session/renew/" + session_).status == 404) {
        host_.warn("heartbeat: session " + session_ + " lapsed (Consul restarted, or this node was cut off); a new one is made");
        session_.clear();
        holding_ = false;
      }
      if (session_.empty()) {
        const nlohmann::json spec = {{"Name", "haul heartbeat of " + keys_.node},
                                     {"TTL", std::to_string(ttl_.count() / 1000) + "s"},
                                     {"Behavior", "delete"},
                                     {"LockDelay", "0s"}};
        session_ = nlohmann::json::parse(api_.call_ok("PUT", "/v1/session/create", spec.dump()).body).at("ID");
      }
      if (!holding_) take_key();
      if (holding_ && std::chrono::steady_clock::now() >= next_seen_) {
        put(keys_.seen(), haul::plugins::seen_value(keys_.node, host_.version(), seen_interval_));
        next_seen_ = std::chrono::steady_clock::now() + seen_interval_;
      }
    } catch (const std::exception& e) {
      host_.warn(std::string("heartbeat: ") + e.what());
      session_.clear();
      holding_ = false;
    }
  }

  void take_key() {
    const std::string key = keys_.heartbeat();
    const std::string value = haul::plugins::heartbeat_value(keys_.node, host_.version()).dump();
    if (acquire(key, value)) return;
    // Held by another session: whose?
    const HttpResponse r = api_.call("GET", "/v1/kv/" + key);
    if (r.status == 404) {
      acquire(key, value);  // lapsed just now
      return;
    }
    const auto entry = nlohmann::json::parse(r.body, nullptr, false);
    if (!entry.is_array() || entry.empty() || !entry[0].is_object()) return;
    const std::string holder = entry[0].value("Session", "");
    const std::string held = entry[0]["Value"].is_string() ? base64_decode(entry[0]["Value"].get<std::string>()) : "";
    if (!holder.empty() && haul::plugins::heartbeat_holder_gone(held)) {
      host_.info("heartbeat: " + key + " was held by a killed run of this agent (session " + holder +
                 "); taking it back");
      api_.call("PUT", "/v1/session/destroy/" + holder);
      if (acquire(key, value)) return;
    }
    if (holder != reported_holder_) {
      host_.warn("heartbeat: " + key + " is held by session " + holder + " (" + describe(held) +
                 "); this agent takes it once that session ends — within twice its TTL if its agent is dead. " +
                 (haul::plugins::heartbeat_holder_on_this_host(held)
                      ? std::string("Another haul agent on this host with the same node name? Give each its own node:")
                      : std::string("Two hosts with the same node name? Set HAUL_NODE or the hook's node:")));
      reported_holder_ = holder;
    }
  }

  bool acquire(const std::string& key, const std::string& value) {
    const HttpResponse r = api_.call_ok("PUT", "/v1/kv/" + key + "?acquire=" + session_, value);
    holding_ = haul::sdk::trim(r.body) == "true";
    if (holding_ && !reported_holder_.empty()) host_.info("heartbeat: " + key + " is this agent's again");
    if (holding_) reported_holder_.clear();
    return holding_;
  }

  static std::string describe(const std::string& value) {
    const auto j = nlohmann::json::parse(value, nullptr, false);
    if (!j.is_object()) return "a holder that does not say who it is";
    return "pid " + j.value("pid", nlohmann::json()).dump() + " of boot " + j.value("boot_id", nlohmann::json()).dump() +
           ", haul " + j.value("version", nlohmann::json()).dump();
  }

  haul::sdk::Host host_;
  const haul::plugins::StatusKeys keys_;
  const std::chrono::milliseconds ttl_, seen_interval_;
  ConsulApi api_;
  // The ticker's thread only:
  std::string session_;
  bool holding_ = false;
  std::string reported_holder_;
  std::chrono::steady_clock::time_point next_seen_{};
  std::unique_ptr<haul::plugins::Ticker> ticker_;  // last: it uses the rest
};

class ConsulStatusHook {
 public:
  ConsulStatusHook(const haul::sdk::Config& cfg, const haul::sdk::Host& host)
      : keys_{cfg.str("prefix", "haul"), cfg.str("namespace", "default"), haul::plugins::status_node_name(cfg.str("node"))},
        log_tail_(cfg.bytes("log_tail", 4096)),
        api_(consul_settings_from_config(cfg)) {
    const auto ttl = cfg.duration("heartbeat_ttl", std::chrono::seconds(30));
    const auto seen_interval = cfg.duration("seen_interval", std::chrono::minutes(10));
    if (ttl.count() > 0 && ttl < std::chrono::seconds(10))
      throw std::runtime_error("heartbeat_ttl must be at least 10s (Consul's minimum session TTL), or 0 to disable");
    if (seen_interval < std::chrono::seconds(10)) throw std::runtime_error("seen_interval must be at least 10s");
    if (ttl.count() > 0 && host.long_running()) {
      const std::string which = api_.settings().address + "|" + keys_.prefix + "|" + keys_.node;
      heartbeat_ = haul::plugins::shared_heartbeat<ConsulHeartbeat>(which, [&] {
        return std::make_shared<ConsulHeartbeat>(api_.settings(), host, keys_, ttl, seen_interval);
      });
    }
  }

  void on_phase(const haul::sdk::HookContext& ctx) {
    if (!haul::plugins::reports(ctx.phase())) return;
    const std::string key = keys_.status(ctx.pipeline());
    const HttpResponse r =
        api_.call_ok("PUT", "/v1/kv/" + key, haul::plugins::deploy_status(ctx, keys_, log_tail_, heartbeat_ != nullptr).dump());
    if (haul::sdk::trim(r.body) != "true")
      throw std::runtime_error("Consul did not write " + key + " (answered " + haul::sdk::trim(r.body) + ")");
    std::call_once(legacy_removed_, [&] {
      try {
        api_.call("DELETE", "/v1/kv/" + keys_.legacy_status(ctx.pipeline()));
      } catch (...) {
      }
    });
    ctx.log(HAUL_LOG_INFO, "status written to Consul KV " + key);
  }

 private:
  const haul::plugins::StatusKeys keys_;
  const size_t log_tail_;
  ConsulApi api_;
  std::once_flag legacy_removed_;
  std::shared_ptr<ConsulHeartbeat> heartbeat_;  // this process's, shared with its other pipelines' hooks
};

const haul_config_field kFields[] = {
    HAUL_CONSUL_CONNECTION_FIELDS("key:write and session:write"),
    {"prefix", "string", "haul", "KV prefix: status under PREFIX/status/, heartbeats under PREFIX/heartbeat/", 0},
    {"namespace", "string", "default",
     "the application or cluster the status belongs to (default: the config's namespace:, else the pipeline's "
     "trigger event): status under PREFIX/status/NAMESPACE/PIPELINE/NODE",
     0},
    {"node", "string", nullptr, "this host's name in the fleet (default: HAUL_NODE, then the hostname)", 0},
    {"heartbeat_ttl", "duration", "30s", "session TTL of the heartbeat key (at least 10s; 0 disables)", 0},
    {"seen_interval", "duration", "10m", "how often a live agent refreshes PREFIX/seen/NODE (for haul status --gone-after)", 0},
    {"log_tail", "bytes", "4KiB", "how much of the end of the deploy log to keep in the status", 0},
    {nullptr, nullptr, nullptr, nullptr, 0},
};

}  // namespace

HAUL_HOOK_PLUGIN(ConsulStatusHook, "consul-status", "0.2.0",
                 "writes each deploy's result to Consul KV and keeps a heartbeat for `haul status`", kFields)
