// SPDX-License-Identifier: Apache-2.0
#include "fleet/fleet_store.hpp"

#include <nlohmann/json.hpp>

#include "util/error.hpp"
#include "util/units.hpp"

namespace haul::fleet {
namespace {

class ConsulFleetStore : public FleetStore {
 public:
  ConsulFleetStore(net::ConsulSettings s, std::chrono::milliseconds timeout)
      : api_(net::consul_settings_from_env(std::move(s))), timeout_(timeout) {}

  Entries list(const std::string& prefix) override {
    const net::HttpResponse r = call("GET", "/v1/kv/" + prefix + "?recurse");
    Entries out;
    if (r.status == 404) return out;
    if (r.status == 403)
      throw Error("Consul refused to read " + prefix + " (HTTP 403): the token needs key:read on it — " + r.body);
    if (r.status != 200)
      throw Error("GET " + api_.settings().address + "/v1/kv/" + prefix + ": HTTP " + std::to_string(r.status) + " " + r.body);
    const auto items = nlohmann::json::parse(r.body, nullptr, false);
    if (!items.is_array()) throw Error("GET " + api_.settings().address + "/v1/kv/" + prefix + ": not a KV listing");
    for (const auto& kv : items)
      if (kv.is_object() && kv.value("Key", nlohmann::json()).is_string())
        out.emplace_back(kv["Key"].get<std::string>(),
                         kv.value("Value", nlohmann::json()).is_string() ? net::base64_decode(kv["Value"].get<std::string>()) : "");
    return out;
  }

  void remove(const std::string& key) override {
    const net::HttpResponse r = call("DELETE", "/v1/kv/" + key);
    if (r.status == 403)
      throw Error("Consul refused to delete " + key + " (HTTP 403): the token needs key:write on it — " + r.body);
    if (r.status != 200)
      throw Error("DELETE " + api_.settings().address + "/v1/kv/" + key + ": HTTP " + std::to_string(r.status) + " " + r.body);
  }

  std::string where() const override { return "Consul at " + api_.settings().address; }
  std::string status_hook() const override { return "consul-status"; }

 private:
  net::HttpResponse call(const std::string& method, const std::string& path) {
    try {
      return api_.call(method, path, "", timeout_);
    } catch (const std::exception& e) {
      throw Error(where() + " did not answer " + method + " " + path + " within " + format_duration(timeout_) + " (" +
                  e.what() + "); --timeout D waits longer");
    }
  }

  net::ConsulApi api_;
  std::chrono::milliseconds timeout_;
};

class EtcdFleetStore : public FleetStore {
 public:
  explicit EtcdFleetStore(net::EtcdSettings s) : api_(std::move(s)) {}

  Entries list(const std::string& prefix) override {
    Entries out;
    guarded([&] {
      for (const auto& kv : api_.range(prefix, true)) out.emplace_back(kv.key, kv.value);
    });
    return out;
  }
  void remove(const std::string& key) override {
    guarded([&] { api_.del(key); });
  }
  std::string where() const override { return "etcd at " + api_.endpoint(); }
  std::string status_hook() const override { return "etcd-status"; }

 private:
  template <class F>
  void guarded(F f) {
    try {
      f();
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Error(where() + ": " + e.what());
    }
  }

  net::EtcdApi api_;
};

}  // namespace

std::unique_ptr<FleetStore> consul_fleet_store(net::ConsulSettings settings, std::chrono::milliseconds timeout) {
  return std::make_unique<ConsulFleetStore>(std::move(settings), timeout);
}

std::unique_ptr<FleetStore> etcd_fleet_store(net::EtcdSettings settings) {
  return std::make_unique<EtcdFleetStore>(std::move(settings));
}

}  // namespace haul::fleet
