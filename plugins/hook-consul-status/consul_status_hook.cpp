// Hook "consul-status": fleet status without a central server. After every
// deploy (success and failure phases) it writes
//   <prefix>/status/<pipeline>/<node>   JSON: event, manifest URL, release,
//                                        result, start, end, duration, error,
//                                        the last log_tail bytes of the log
// and, while the agent runs, keeps <prefix>/heartbeat/<node> under
// a Consul session with a TTL (renewed at TTL/2, behaviour "delete"): when
// the agent dies the session expires and the heartbeat disappears, so
// `haul status` can tell a dead agent from a live one.
#include <haul/sdk.hpp>
#include <nlohmann/json.hpp>



#include "../common/deploy_status.hpp"
#include "../common/ticker.hpp"
#include "net/consul_api.hpp"

namespace {

using namespace haul::net;

class ConsulStatusHook {
 public:
  ConsulStatusHook(const haul::sdk::Config& cfg, const haul::sdk::Host& host)
      : host_(host),
        prefix_(cfg.str("prefix", "haul")),
        node_(cfg.str("node")),
        ttl_(cfg.duration("heartbeat_ttl", std::chrono::seconds(30))),
        log_tail_(cfg.bytes("log_tail", 4096)) {
    api_ = std::make_unique<ConsulApi>(consul_settings_from_config(cfg));
    node_ = haul::plugins::status_node_name(node_);
    if (ttl_.count() > 0 && ttl_ < std::chrono::seconds(10))
      throw std::runtime_error("heartbeat_ttl must be at least 10s (Consul's minimum session TTL), or 0 to disable");
    if (ttl_.count() > 0) heartbeat_ = std::make_unique<haul::plugins::Ticker>(ttl_ / 2, [this] { beat(); });
  }

  ~ConsulStatusHook() {
    heartbeat_.reset();
    if (!session_.empty()) {
      try {
        api_->call("PUT", "/v1/session/destroy/" + session_, "", std::chrono::seconds(5));
      } catch (...) {
      }
    }
  }

  void on_phase(const haul::sdk::HookContext& ctx) {
    if (ctx.phase() != HAUL_PHASE_SUCCESS && ctx.phase() != HAUL_PHASE_FAILURE) return;
    const nlohmann::json status = haul::plugins::deploy_status(ctx, node_, log_tail_);
    const std::string key = prefix_ + "/status/" + ctx.pipeline() + "/" + node_;
    api_->call_ok("PUT", "/v1/kv/" + key, status.dump());
    ctx.log(HAUL_LOG_INFO, "status written to Consul KV " + key);
  }

 private:
  // One heartbeat: a session and its key the first time (or after the
  // session lapsed while Consul was away), a renew after.
  void beat() {
    const std::string key = prefix_ + "/heartbeat/" + node_;
    try {
      if (!session_.empty() && api_->call("PUT", "/v1/session/renew/" + session_).status == 404) session_.clear();
      if (session_.empty()) {
        nlohmann::json spec = {{"Name", "haul agent on " + node_},
                               {"TTL", std::to_string(ttl_.count() / 1000) + "s"},
                               {"Behavior", "delete"}};
        session_ = nlohmann::json::parse(api_->call_ok("PUT", "/v1/session/create", spec.dump()).body)["ID"];
        nlohmann::json beat = {{"node", node_}, {"version", host_.version()}};
        api_->call_ok("PUT", "/v1/kv/" + key + "?acquire=" + session_, beat.dump());
      }
    } catch (const std::exception& e) {
      host_.warn(std::string("heartbeat: ") + e.what());
      session_.clear();
    }
  }

  haul::sdk::Host host_;
  std::string prefix_, node_;
  std::chrono::milliseconds ttl_;
  size_t log_tail_;
  std::unique_ptr<ConsulApi> api_;
  std::string session_;  // the heartbeat's; the ticker's thread only
  std::unique_ptr<haul::plugins::Ticker> heartbeat_;  // last: it uses the rest
};

const haul_config_field kFields[] = {
    HAUL_CONSUL_CONNECTION_FIELDS("key:write and session:write"),
    {"prefix", "string", "haul", "KV prefix: status under PREFIX/status/, heartbeats under PREFIX/heartbeat/", 0},
    {"node", "string", nullptr, "this host's name in the fleet (default: HAUL_NODE, then the hostname)", 0},
    {"heartbeat_ttl", "duration", "30s", "session TTL of the heartbeat key (at least 10s; 0 disables)", 0},
    {"log_tail", "bytes", "4KiB", "how much of the end of the deploy log to keep in the status", 0},
    {nullptr, nullptr, nullptr, nullptr, 0},
};

}  // namespace

HAUL_HOOK_PLUGIN(ConsulStatusHook, "consul-status", "0.1.0",
                 "writes each deploy's result to Consul KV and keeps a heartbeat for `haul status`", kFields)
