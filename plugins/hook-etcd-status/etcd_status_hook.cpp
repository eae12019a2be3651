// Hook "etcd-status": fleet status on etcd, as consul-status does it on
// Consul. After every deploy (success and failure phases) it writes
//   <prefix>/status/<pipeline>/<node>   the same JSON as consul-status
// and, while the agent runs, keeps <prefix>/heartbeat/<node> under a lease
// (TTL, kept alive at TTL/3): when the agent dies the lease expires and the
// heartbeat disappears, so `haul status --etcd` tells a dead agent from a
// live one.
#include <haul/sdk.hpp>


#include <memory>

#include "../common/deploy_status.hpp"
#include "../common/ticker.hpp"
#include "net/etcd_api.hpp"

namespace {

using namespace haul::net;

class EtcdStatusHook {
 public:
  EtcdStatusHook(const haul::sdk::Config& cfg, const haul::sdk::Host& host)
      : host_(host), api_(etcd_settings_from_config(cfg)), prefix_(cfg.str("prefix", "haul")),
        node_(haul::plugins::status_node_name(cfg.str("node"))),
        ttl_(cfg.duration("heartbeat_ttl", std::chrono::seconds(30))), log_tail_(cfg.bytes("log_tail", 4096)) {
    if (ttl_.count() > 0 && ttl_ < std::chrono::seconds(2))
      throw std::runtime_error("heartbeat_ttl must be at least 2s, or 0 to disable");
    if (ttl_.count() > 0) heartbeat_ = std::make_unique<haul::plugins::Ticker>(ttl_ / 3, [this] { beat(); });
  }

  ~EtcdStatusHook() {
    heartbeat_.reset();
    if (lease_) {
      try {
        api_.lease_revoke(lease_);
      } catch (...) {
      }
    }
  }

  void on_phase(const haul::sdk::HookContext& ctx) {
    if (ctx.phase() != HAUL_PHASE_SUCCESS && ctx.phase() != HAUL_PHASE_FAILURE) return;
    const std::string key = prefix_ + "/status/" + ctx.pipeline() + "/" + node_;
    api_.put(key, haul::plugins::deploy_status(ctx, node_, log_tail_).dump());
    ctx.log(HAUL_LOG_INFO, "status written to etcd key " + key);
  }

 private:
  // One heartbeat: a lease and its key the first time (or after the lease
  // expired while etcd was away), a keep-alive after.
  void beat() {
    try {
      if (lease_ && !api_.lease_keepalive(lease_)) lease_ = 0;
      if (!lease_) {
        lease_ = api_.lease_grant(std::chrono::duration_cast<std::chrono::seconds>(ttl_));
        api_.put(prefix_ + "/heartbeat/" + node_, nlohmann::json{{"node", node_}, {"version", host_.version()}}.dump(),
                 lease_);
      }
    } catch (const std::exception& e) {
      host_.warn(std::string("heartbeat: ") + e.what());
    }
  }

  haul::sdk::Host host_;
  EtcdApi api_;
  std::string prefix_, node_;
  std::chrono::milliseconds ttl_;
  size_t log_tail_;
  int64_t lease_ = 0;  // the heartbeat's; the ticker's thread only
  std::unique_ptr<haul::plugins::Ticker> heartbeat_;  // last: it uses the rest
};

const haul_config_field kFields[] = {
    HAUL_ETCD_CONNECTION_FIELDS,
    {"prefix", "string", "haul", "key prefix: status under PREFIX/status/, heartbeats under PREFIX/heartbeat/", 0},
    {"node", "string", nullptr, "this host's name in the fleet (default: HAUL_NODE, then the hostname)", 0},
    {"heartbeat_ttl", "duration", "30s", "lease TTL of the heartbeat key (at least 2s; 0 disables)", 0},
    {"log_tail", "bytes", "4KiB", "how much of the end of the deploy log to keep in the status", 0},
    {nullptr, nullptr, nullptr, nullptr, 0},
};

}  // namespace

HAUL_HOOK_PLUGIN(EtcdStatusHook, "etcd-status", "0.1.0",
                 "writes each deploy's result to etcd and keeps a heartbeat lease for `haul status --etcd`", kFields)
