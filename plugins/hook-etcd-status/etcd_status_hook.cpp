// SPDX-License-Identifier: Apache-2.0
// Hook "etcd-status": fleet status on etcd, as consul-status does it on
// Consul. After every deploy and rollback it writes the node's status
// document (common/deploy_status.hpp) and, in a long-running agent, keeps
// the heartbeat key under a lease (TTL, kept alive at TTL/3): when the agent
// dies the lease expires and the key disappears, so `haul status --etcd`
// tells a dead agent from a live one. A restarted agent's put attaches the
// key to its own new lease at once: the old lease's expiry no longer
// removes it.
#include <haul/sdk.hpp>

#include <memory>
#include <mutex>

#include "../common/deploy_status.hpp"
#include "../common/shared_heartbeat.hpp"
#include "../common/ticker.hpp"
#include "net/etcd_api.hpp"

namespace {

using namespace haul::net;

// The node's heartbeat key on a lease, and its seen-record.
class EtcdHeartbeat {
 public:
  EtcdHeartbeat(EtcdSettings settings, const haul::sdk::Host& host, haul::plugins::StatusKeys keys,
                std::chrono::milliseconds ttl, std::chrono::milliseconds seen_interval)
      : host_(host), api_(std::move(settings)), keys_(std::move(keys)), ttl_(ttl), seen_interval_(seen_interval),
        ticker_(std::make_unique<haul::plugins::Ticker>(ttl_ / 3, [this] { beat(); })) {}

  ~EtcdHeartbeat() {
    ticker_.reset();
    if (!lease_) return;
    try {
      api_.put(keys_.seen(), haul::plugins::seen_value(keys_.node, host_.version(), {}));  // stopped now
      api_.lease_revoke(lease_);
    } catch (...) {
    }
  }

 private:
  // One heartbeat: a lease and its key the first time (or after the lease
  // expired while etcd was away), a keep-alive after.
  void beat() {
    try {
      if (lease_ && !api_.lease_keepalive(lease_)) lease_ = 0;
      if (!lease_) {
        lease_ = api_.lease_grant(std::chrono::duration_cast<std::chrono::seconds>(ttl_));
        api_.put(keys_.heartbeat(), haul::plugins::heartbeat_value(keys_.node, host_.version()).dump(), lease_);
      }
      if (std::chrono::steady_clock::now() >= next_seen_) {
        api_.put(keys_.seen(), haul::plugins::seen_value(keys_.node, host_.version(), seen_interval_));
        next_seen_ = std::chrono::steady_clock::now() + seen_interval_;
      }
    } catch (const std::exception& e) {
      host_.warn(std::string("heartbeat: ") + e.what());
    }
  }

  haul::sdk::Host host_;
  EtcdApi api_;
  const haul::plugins::StatusKeys keys_;
  const std::chrono::milliseconds ttl_, seen_interval_;
  int64_t lease_ = 0;  // the ticker's thread only
  std::chrono::steady_clock::time_point next_seen_{};
  std::unique_ptr<haul::plugins::Ticker> ticker_;  // last: it uses the rest
};

class EtcdStatusHook {
 public:
  EtcdStatusHook(const haul::sdk::Config& cfg, const haul::sdk::Host& host)
      : settings_(etcd_settings_from_config(cfg)), api_(settings_),
        keys_{cfg.str("prefix", "haul"), cfg.str("namespace", "default"), haul::plugins::status_node_name(cfg.str("node"))},
        log_tail_(cfg.bytes("log_tail", 4096)) {
    const auto ttl = cfg.duration("heartbeat_ttl", std::chrono::seconds(30));
    const auto seen_interval = cfg.duration("seen_interval", std::chrono::minutes(10));
    if (ttl.count() > 0 && ttl < std::chrono::seconds(2))
      throw std::runtime_error("heartbeat_ttl must be at least 2s, or 0 to disable");
    if (seen_interval < std::chrono::seconds(10)) throw std::runtime_error("seen_interval must be at least 10s");
    if (ttl.count() > 0 && host.long_running()) {
      std::string which = keys_.prefix + "|" + keys_.node;
      for (const auto& e : settings_.endpoints) which += "|" + e;
      heartbeat_ = haul::plugins::shared_heartbeat<EtcdHeartbeat>(
          which, [&] { return std::make_shared<EtcdHeartbeat>(settings_, host, keys_, ttl, seen_interval); });
    }
  }

  void on_phase(const haul::sdk::HookContext& ctx) {
    if (!haul::plugins::reports(ctx.phase())) return;
    const std::string key = keys_.status(ctx.pipeline());
    api_.put(key, haul::plugins::deploy_status(ctx, keys_, log_tail_, heartbeat_ != nullptr).dump());
    std::call_once(legacy_removed_, [&] {
      try {
        api_.del(keys_.legacy_status(ctx.pipeline()));
      } catch (...) {
      }
    });
    ctx.log(HAUL_LOG_INFO, "status written to etcd key " + key);
  }

 private:
  const EtcdSettings settings_;
  EtcdApi api_;
  const haul::plugins::StatusKeys keys_;
  const size_t log_tail_;
  std::once_flag legacy_removed_;
  std::shared_ptr<EtcdHeartbeat> heartbeat_;  // this process's, shared with its other pipelines' hooks
};

const haul_config_field kFields[] = {
    HAUL_ETCD_CONNECTION_FIELDS,
    {"prefix", "string", "haul", "key prefix: status under PREFIX/status/, heartbeats under PREFIX/heartbeat/", 0},
    {"namespace", "string", "default",
     "the application or cluster the status belongs to (default: the config's namespace:, else the pipeline's "
     "trigger key): status under PREFIX/status/NAMESPACE/PIPELINE/NODE",
     0},
    {"node", "string", nullptr, "this host's name in the fleet (default: HAUL_NODE, then the hostname)", 0},
    {"heartbeat_ttl", "duration", "30s", "lease TTL of the heartbeat key (at least 2s; 0 disables)", 0},
    {"seen_interval", "duration", "10m", "how often a live agent refreshes PREFIX/seen/NODE (for haul status --gone-after)", 0},
    {"log_tail", "bytes", "4KiB", "how much of the end of the deploy log to keep in the status", 0},
    {nullptr, nullptr, nullptr, nullptr, 0},
};

}  // namespace

HAUL_HOOK_PLUGIN(EtcdStatusHook, "etcd-status", "0.2.0",
                 "writes each deploy's result to etcd and keeps a heartbeat lease for `haul status --etcd`", kFields)
