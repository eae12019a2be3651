// SPDX-License-Identifier: Apache-2.0
// A gate plugin's behaviour — enter, leave, watch, control (plugin.h's gate
// kind) — over any store that can hold a ledger with compare-and-swap and
// tell live nodes from dead ones. The store is all an engine adds: Consul
// (KV + sessions) in gate-consul-rollout, etcd (KV + leases) in
// gate-etcd-rollout. The rules are rollout_ledger's.
#pragma once

#include <haul/sdk.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "rollout_ledger.hpp"

namespace haul::rollout {

using std::chrono::milliseconds;

// The store is unreachable, restarting or without a leader: a waiting node
// waits on (deploying without the gate would be unsafe), retrying.
struct Transient : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// What one read of a release's rollout shows.
struct Snapshot {
  std::optional<Ledger> ledger;
  uint64_t version = 0;  // for write(): the ledger's ModifyIndex / mod_revision; 0 = absent
  std::map<std::string, std::string> live;  // node -> the session or lease that keeps it live
  uint64_t after = 0;  // where the next waiting read starts (X-Consul-Index, etcd revision)
};

// The key layout every store uses: <prefix>/rollout/<pipeline>/ holds a
// pipeline's rollouts; <that>/<release>/ holds `ledger` and `nodes/<node>`.
std::string pipeline_keys(const std::string& prefix, const std::string& pipeline);
std::string release_keys(const std::string& prefix, const std::string& pipeline, const std::string& release);
std::string node_key(const std::string& prefix, const std::string& pipeline, const std::string& release,
                     const std::string& node);
bool is_ledger_key(const std::string& key);

class RolloutStore {
 public:
  virtual ~RolloutStore() = default;
  // The release's ledger and live nodes. With `after` set, first waits (at
  // most block_for) until something of the release changed past it.
  // Throws Transient when the store cannot answer now.
  virtual Snapshot read(const std::string& pipeline, const std::string& release, uint64_t after,
                        milliseconds block_for, const std::function<bool()>& cancelled) = 0;
  // This process's session/lease id ("" before the first enrol).
  virtual std::string holder() = 0;
  // Makes `node` live for the release under this process's session/lease;
  // false when another (a crashed run's, not yet lapsed) still holds it.
  virtual bool enrol(const std::string& pipeline, const std::string& release, const std::string& node) = 0;
  // The node's live mark, when it has left the rollout (best effort).
  virtual void forget(const std::string& pipeline, const std::string& release, const std::string& node) = 0;
  // Writes the ledger unless it changed since `version` (0: unless it exists).
  virtual bool write(const std::string& pipeline, const std::string& release, const Ledger& ledger,
                     uint64_t version) = 0;
  virtual std::vector<Ledger> ledgers(const std::string& pipeline) = 0;
  // For messages: "Consul", "etcd"; and where a pipeline's rollouts live.
  virtual std::string name() const = 0;
  virtual std::string where(const std::string& pipeline) const = 0;
};

class RolloutGate {
 public:
  explicit RolloutGate(RolloutStore& store) : store_(store) {}
  haul::sdk::Verdict enter(const haul::sdk::GateRequest& req);
  void leave(const haul::sdk::GateRequest& req, bool succeeded, const std::string& error);
  std::optional<haul::sdk::Verdict> watch(const haul::sdk::GateRequest& req, milliseconds timeout);
  std::string control(const std::string& verb, const std::string& pipeline, const std::string& release,
                      const std::string& reason);

 private:
  std::optional<haul::sdk::Verdict> enter_round(const haul::sdk::GateRequest& req, uint64_t& after,
                                                milliseconds& block_for, std::string& last_why);
  // Read-change-write until it sticks; a missing ledger is started with
  // `policy`, or is an error without one.
  Ledger update(const std::string& pipeline, const std::string& release, const haul_rollout_policy* policy,
                const std::function<void(Ledger&)>& change);

  RolloutStore& store_;
};

// A gate plugin class (for HAUL_GATE_PLUGIN) made of a store: Store is
// constructed from the plugin's config and host.
template <class Store>
class GatePlugin {
 public:
  GatePlugin(const haul::sdk::Config& cfg, const haul::sdk::Host& host) : store_(cfg, host), gate_(store_) {}
  haul::sdk::Verdict enter(const haul::sdk::GateRequest& req) { return gate_.enter(req); }
  void leave(const haul::sdk::GateRequest& req, bool ok, const std::string& error) { gate_.leave(req, ok, error); }
  std::optional<haul::sdk::Verdict> watch(const haul::sdk::GateRequest& req, milliseconds timeout) {
    return gate_.watch(req, timeout);
  }
  std::string control(const std::string& verb, const std::string& pipeline, const std::string& release,
                      const std::string& reason) {
    return gate_.control(verb, pipeline, release, reason);
  }

 private:
  Store store_;
  RolloutGate gate_;
};

}  // namespace haul::rollout
