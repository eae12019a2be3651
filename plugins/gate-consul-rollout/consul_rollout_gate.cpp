// SPDX-License-Identifier: Apache-2.0
// Gate "consul-rollout": canary, batches and fleet-wide halt coordinated
// through Consul alone — no deploy server. Per release, under
// <prefix>/rollout/<pipeline>/<release>/:
//   ledger        the rollout (common/rollout_ledger.hpp), changed only with
//                 ?cas=<ModifyIndex>, so concurrent nodes never lose a write
//   nodes/<node>  held with ?acquire= by the node's session (TTL, behaviour
//                 "delete", no lock delay): while the node lives the key
//                 exists; when it dies the session lapses, Consul deletes
//                 the key, and its slot is free for the next node
// This is Consul's documented semaphore recipe (contender keys under a
// prefix + one CAS-updated holder record), with the ledger as the record.
// Waiting is a blocking query on the prefix (?index=&wait=), never a poll.
// The gate's behaviour is common/rollout_gate's; this file is the store.
#include <haul/sdk.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <functional>
#include <mutex>
#include <memory>

#include "net/consul_api.hpp"
#include "rollout_gate.hpp"
#include "ticker.hpp"

namespace {

using namespace haul::net;
namespace rollout = haul::rollout;
using rollout::Transient;
using std::chrono::milliseconds;

const haul_config_field kFields[] = {
    HAUL_CONSUL_CONNECTION_FIELDS("key:write on <prefix>/rollout/ and session:write"),
    {"prefix", "string", "haul", "KV prefix; rollouts live under <prefix>/rollout/<pipeline>/<release>/", 0},
    {"session_ttl", "duration", "15s",
     "TTL of the node's Consul session (10s-24h): a node that dies holding a slot frees it within about twice this", 0},
    {nullptr, nullptr, nullptr, nullptr, 0},
};

class ConsulRolloutStore : public rollout::RolloutStore {
 public:
  ConsulRolloutStore(const haul::sdk::Config& cfg, const haul::sdk::Host& host)
      : host_(host), api_(consul_settings_from_config(cfg)), prefix_(cfg.str("prefix", "haul")),
        ttl_(cfg.duration("session_ttl", std::chrono::seconds(15))) {
    if (ttl_ < std::chrono::seconds(10) || ttl_ > std::chrono::hours(24))
      throw std::runtime_error("session_ttl must be between 10s and 24h (Consul's session TTL range), got " +
                               std::to_string(ttl_.count()) + "ms");
    while (!prefix_.empty() && prefix_.back() == '/') prefix_.pop_back();
  }

  ~ConsulRolloutStore() override {
    renewer_.reset();
    const std::string sid = session();
    if (!sid.empty()) {
      try {
        api_.call("PUT", "/v1/session/destroy/" + sid, "", std::chrono::seconds(5));
      } catch (const std::exception&) {
        // The TTL ends it anyway.
      }
    }
  }

  // One recursive read of the release's prefix; a blocking query of up to
  // block_for when `after` (an X-Consul-Index) is set.
  rollout::Snapshot read(const std::string& pipeline, const std::string& release, uint64_t after, milliseconds block_for,
                         const std::function<bool()>& cancelled) override {
    const std::string base = rollout::release_keys(prefix_, pipeline, release);
    std::string path = "/v1/kv/" + base + "?recurse";
    milliseconds timeout{std::chrono::seconds(30)};
    if (after) {
      path += "&index=" + std::to_string(after) + "&wait=" + std::to_string(block_for.count()) + "ms";
      // Consul adds up to wait/16 of jitter before it answers.
      timeout = block_for + block_for / 16 + std::chrono::seconds(10);
    }
    HttpResponse r = call("GET", path, "", timeout, cancelled);
    if (cancelled && cancelled()) throw haul::sdk::Cancelled();
    if (r.status != 200 && r.status != 404) throw unexpected("GET", path, r);
    rollout::Snapshot s;
    auto idx = r.headers.find("x-consul-index");
    s.after = idx == r.headers.end() ? 0 : std::strtoull(idx->second.c_str(), nullptr, 10);
    // Consul: an index that went backwards (or 0) means start over.
    if (s.after < after || s.after == 0) s.after = 0;
    if (r.status == 404) return s;
    for (const auto& item : nlohmann::json::parse(r.body)) {
      const std::string key = item.value("Key", "");
      const std::string rest = key.substr(std::min(key.size(), base.size()));
      const std::string value = item["Value"].is_string() ? base64_decode(item["Value"].get<std::string>()) : "";
      if (rest == "ledger") {
        s.ledger = rollout::Ledger::parse(value, "Consul KV " + key);
        s.version = item.value("ModifyIndex", uint64_t{0});
      } else if (rest.rfind("nodes/", 0) == 0 && item.contains("Session")) {
        s.live[value.empty() ? rest.substr(6) : value] = item["Session"].get<std::string>();  // value: the node's name
      }
    }
    return s;
  }

  std::string holder() override { return session(); }

  bool enrol(const std::string& pipeline, const std::string& release, const std::string& node) override {
    const std::string sid = ensure_session();
    const std::string path = "/v1/kv/" + rollout::node_key(prefix_, pipeline, release, node) + "?acquire=" + sid;
    HttpResponse r = call("PUT", path, node);
    if (r.status == 500 && r.body.find("invalid session") != std::string::npos) {
      drop_session(sid);  // lapsed between create and acquire: a new one next round
      return false;
    }
    if (r.status != 200) throw unexpected("PUT", path, r);
    return haul::sdk::trim(r.body) == "true";
  }

  void forget(const std::string& pipeline, const std::string& release, const std::string& node) override {
    try {
      api_.call("DELETE", "/v1/kv/" + rollout::node_key(prefix_, pipeline, release, node));
    } catch (const std::exception& e) {
      host_.warn(std::string("cannot remove the rollout key of this node (its session's TTL will): ") + e.what());
    }
  }

  bool write(const std::string& pipeline, const std::string& release, const rollout::Ledger& l,
             uint64_t version) override {
    const std::string path = "/v1/kv/" + rollout::release_keys(prefix_, pipeline, release) + "ledger?cas=" + std::to_string(version);
    HttpResponse r = call("PUT", path, l.dump());
    if (r.status != 200) throw unexpected("PUT", path, r);
    return haul::sdk::trim(r.body) == "true";
  }

  std::vector<rollout::Ledger> ledgers(const std::string& pipeline) override {
    const std::string path = "/v1/kv/" + prefix_ + "/rollout/" + rollout::key_segment(pipeline) + "/?recurse";
    HttpResponse r = call("GET", path);
    std::vector<rollout::Ledger> out;
    if (r.status == 404) return out;
    if (r.status != 200) throw unexpected("GET", path, r);
    for (const auto& item : nlohmann::json::parse(r.body)) {
      const std::string key = item.value("Key", "");
      if (!rollout::is_ledger_key(key) || !item["Value"].is_string()) continue;
      out.push_back(rollout::Ledger::parse(base64_decode(item["Value"].get<std::string>()), "Consul KV " + key));
    }
    return out;
  }

  std::string name() const override { return "Consul"; }
  std::string where(const std::string& pipeline) const override {
    return api_.settings().address + "/v1/kv/" + rollout::pipeline_keys(prefix_, pipeline);
  }

 private:
  // Every Consul call of the gate: a transport failure or a 5xx is
  // Transient; a 403 names the missing permission.
  HttpResponse call(const std::string& method, const std::string& path, const std::string& body = "",
                    milliseconds timeout = std::chrono::seconds(30), std::function<bool()> cancelled = nullptr) {
    HttpResponse r;
    try {
      r = api_.call(method, path, body, timeout, cancelled);
    } catch (const std::exception& e) {
      if (cancelled && cancelled()) throw haul::sdk::Cancelled();
      throw Transient(e.what());
    }
    if (r.status >= 500 && r.body.find("invalid session") == std::string::npos) throw Transient(unexpected(method, path, r).what());
    if (r.status == 403)
      throw std::runtime_error(method + " " + api_.settings().address + path +
                               ": HTTP 403 (the ACL token needs key:write on the rollout prefix and session:write): " + r.body);
    return r;
  }

  std::runtime_error unexpected(const std::string& method, const std::string& path, const HttpResponse& r) const {
    return std::runtime_error(method + " " + api_.settings().address + path + ": HTTP " + std::to_string(r.status) + ": " +
                              r.body);
  }

  // ---- the node's session: created on first use, renewed at TTL/2 ----
  std::string session() {
    std::lock_guard<std::mutex> lock(mu_);
    return session_;
  }

  void drop_session(const std::string& sid) {
    std::lock_guard<std::mutex> lock(mu_);
    if (session_ == sid) session_.clear();
  }

  std::string ensure_session() {
    std::string sid = session();
    if (!sid.empty()) return sid;
    const nlohmann::json spec = {{"Name", "haul rollout gate"},
                                 {"TTL", std::to_string(ttl_.count() / 1000) + "s"},
                                 {"Behavior", "delete"},
                                 {"LockDelay", "0s"}};
    HttpResponse r = call("PUT", "/v1/session/create", spec.dump());
    if (r.status != 200) throw unexpected("PUT", "/v1/session/create", r);
    sid = nlohmann::json::parse(r.body).at("ID").get<std::string>();
    std::lock_guard<std::mutex> lock(mu_);
    session_ = sid;
    return sid;
  }

  void renew() {
    const std::string sid = session();
    if (sid.empty()) return;
    try {
      HttpResponse r = api_.call("PUT", "/v1/session/renew/" + sid, "", std::chrono::seconds(10));
      if (r.status == 404) {
        host_.warn("the rollout session " + sid + " lapsed (Consul restarted, or this node was cut off); a new one is made");
        drop_session(sid);
      }
    } catch (const std::exception& e) {
      host_.warn(std::string("renewing the rollout session: ") + e.what());
    }
  }

  haul::sdk::Host host_;
  ConsulApi api_;
  std::string prefix_;
  milliseconds ttl_;
  std::mutex mu_;
  std::string session_;
  std::unique_ptr<haul::plugins::Ticker> renewer_ =
      std::make_unique<haul::plugins::Ticker>(ttl_ / 2, [this] { renew(); });  // last: it uses the rest
};

using ConsulRolloutGate = rollout::GatePlugin<ConsulRolloutStore>;

}  // namespace

HAUL_GATE_PLUGIN(ConsulRolloutGate, "consul-rollout", "1.0.0",
                 "Rollouts coordinated through Consul KV and sessions: canary, batches, fleet-wide halt", kFields)
