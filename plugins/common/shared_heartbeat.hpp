// SPDX-License-Identifier: Apache-2.0
// One heartbeat per node and store in a process, however many pipelines'
// status hooks ask for it: two hooks keeping the same key would take it
// from each other (Consul: one acquire loses; etcd: each put moves the key
// to its own lease, and the first to stop deletes it under the other).
// The heartbeat lives while any hook holds it.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace haul::plugins {

template <class Heartbeat>
std::shared_ptr<Heartbeat> shared_heartbeat(const std::string& key, const std::function<std::shared_ptr<Heartbeat>()>& make) {
  static std::mutex mu;
  static std::map<std::string, std::weak_ptr<Heartbeat>> running;
  std::lock_guard<std::mutex> lock(mu);
  std::shared_ptr<Heartbeat> beat = running[key].lock();
  if (!beat) running[key] = beat = make();
  return beat;
}

}  // namespace haul::plugins
