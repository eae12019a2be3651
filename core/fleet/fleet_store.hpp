// SPDX-License-Identifier: Apache-2.0
// Where a fleet's status lives, as `haul status` reads and edits it: Consul
// KV or etcd, wherever the consul-status and etcd-status hooks write.
// Every key under a prefix, and deleting one key; each request bounded by a
// timeout, so a stalled engine fails the command instead of hanging it.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "net/consul_api.hpp"
#include "net/etcd_api.hpp"

namespace haul::fleet {

class FleetStore {
 public:
  using Entries = std::vector<std::pair<std::string, std::string>>;  // key, value
  virtual ~FleetStore() = default;
  // Throws haul::Error naming the engine, the prefix and what it answered.
  virtual Entries list(const std::string& prefix) = 0;
  virtual void remove(const std::string& key) = 0;
  virtual std::string where() const = 0;       // "Consul at http://127.0.0.1:8500"
  virtual std::string status_hook() const = 0;  // the hook that writes here: "consul-status"
};

std::unique_ptr<FleetStore> consul_fleet_store(net::ConsulSettings settings, std::chrono::milliseconds timeout);
// settings.request_timeout bounds each request.
std::unique_ptr<FleetStore> etcd_fleet_store(net::EtcdSettings settings);

}  // namespace haul::fleet
