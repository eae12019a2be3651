// SPDX-License-Identifier: Apache-2.0
// Gate "etcd-rollout": the same rollouts as consul-rollout (canary, batches,
// fleet-wide halt; common/rollout_gate) on etcd v3 alone. Per release,
// under <prefix>/rollout/<pipeline>/<release>/:
//   ledger        the rollout, changed only in a transaction that compares
//                 its mod_revision (create_revision 0 to create it)
//   nodes/<node>  put with the node's lease (TTL, kept alive at TTL/3):
//                 when the node dies the lease expires, etcd deletes the
//                 key, and its slot is free for the next node
// etcd's documented lock recipe (keys under a prefix bound to leases) with
// the ledger as the holder record. Waiting is a watch on the prefix from
// the revision read, never a poll; a compacted revision just reads again.
#include <haul/sdk.hpp>

#include <mutex>
#include <memory>

#include "net/etcd_api.hpp"
#include "rollout_gate.hpp"
#include "ticker.hpp"

namespace {

using namespace haul::net;
namespace rollout = haul::rollout;
using rollout::Transient;
using std::chrono::milliseconds;

const haul_config_field kFields[] = {
    HAUL_ETCD_CONNECTION_FIELDS,
    {"prefix", "string", "haul", "key prefix; rollouts live under <prefix>/rollout/<pipeline>/<release>/", 0},
    {"lease_ttl", "duration", "15s",
     "TTL of the node's etcd lease (2s-24h): a node that dies holding a slot frees it within this", 0},
    {nullptr, nullptr, nullptr, nullptr, 0},
};

class EtcdRolloutStore : public rollout::RolloutStore {
 public:
  EtcdRolloutStore(const haul::sdk::Config& cfg, const haul::sdk::Host& host)
      : host_(host), api_(etcd_settings_from_config(cfg)), prefix_(cfg.str("prefix", "haul")),
        ttl_(cfg.duration("lease_ttl", std::chrono::seconds(15))) {
    if (ttl_ < std::chrono::seconds(2) || ttl_ > std::chrono::hours(24))
      throw std::runtime_error("lease_ttl must be between 2s and 24h, got " + std::to_string(ttl_.count()) + "ms");
    while (!prefix_.empty() && prefix_.back() == '/') prefix_.pop_back();
  }

  ~EtcdRolloutStore() override {
    keeper_.reset();
    if (const int64_t id = lease()) {
      try {
        api_.lease_revoke(id);
      } catch (const std::exception&) {
        // It expires anyway.
      }
    }
  }

  rollout::Snapshot read(const std::string& pipeline, const std::string& release, uint64_t after, milliseconds block_for,
                         const std::function<bool()>& cancelled) override {
    const std::string base = rollout::release_keys(prefix_, pipeline, release);
    return guarded([&] {
      if (after) api_.watch(base, true, static_cast<int64_t>(after), block_for, cancelled);
      if (cancelled && cancelled()) throw haul::sdk::Cancelled();
      rollout::Snapshot s;
      int64_t revision = 0;
      for (const auto& kv : api_.range(base, true, &revision)) {
        const std::string rest = kv.key.substr(base.size());
        if (rest == "ledger") {
          s.ledger = rollout::Ledger::parse(kv.value, "etcd key " + kv.key);
          s.version = static_cast<uint64_t>(kv.mod_revision);
        } else if (rest.rfind("nodes/", 0) == 0) {
          s.live[kv.value.empty() ? rest.substr(6) : kv.value] = std::to_string(kv.lease);
        }
      }
      s.after = static_cast<uint64_t>(revision + 1);  // a watch from here sees every later change
      return s;
    });
  }

  std::string holder() override { return std::to_string(lease()); }

  bool enrol(const std::string& pipeline, const std::string& release, const std::string& node) override {
    return guarded([&] {
      api_.put(rollout::node_key(prefix_, pipeline, release, node), node, ensure_lease());
      return true;
    });
  }

  void forget(const std::string& pipeline, const std::string& release, const std::string& node) override {
    try {
      api_.del(rollout::node_key(prefix_, pipeline, release, node));
    } catch (const std::exception& e) {
      host_.warn(std::string("cannot remove the rollout key of this node (its lease will): ") + e.what());
    }
  }

  bool write(const std::string& pipeline, const std::string& release, const rollout::Ledger& l,
             uint64_t version) override {
    return guarded([&] { return api_.put_if(rollout::release_keys(prefix_, pipeline, release) + "ledger", l.dump(), static_cast<int64_t>(version)); });
  }

  std::vector<rollout::Ledger> ledgers(const std::string& pipeline) override {
    return guarded([&] {
      std::vector<rollout::Ledger> out;
      for (const auto& kv : api_.range(rollout::pipeline_keys(prefix_, pipeline), true))
        if (rollout::is_ledger_key(kv.key))
          out.push_back(rollout::Ledger::parse(kv.value, "etcd key " + kv.key));
      return out;
    });
  }

  std::string name() const override { return "etcd"; }
  std::string where(const std::string& pipeline) const override {
    return "etcd " + api_.endpoint() + " keys " + rollout::pipeline_keys(prefix_, pipeline);
  }

 private:
  template <class F>
  auto guarded(F&& f) -> decltype(f()) {
    try {
      return f();
    } catch (const EtcdUnavailable& e) {
      throw Transient(e.what());
    }
  }

  // ---- the node's lease: granted on first use, kept alive at TTL/3 ----
  int64_t lease() {
    std::lock_guard<std::mutex> lock(mu_);
    return lease_;
  }

  int64_t ensure_lease() {
    if (const int64_t id = lease()) return id;
    const int64_t id = api_.lease_grant(std::chrono::duration_cast<std::chrono::seconds>(ttl_));
    std::lock_guard<std::mutex> lock(mu_);
    lease_ = id;
    return id;
  }

  void keep_alive() {
    const int64_t id = lease();
    if (!id) return;
    try {
      if (!api_.lease_keepalive(id)) {
        host_.warn("the rollout lease " + std::to_string(id) + " expired (etcd unreachable too long); a new one is granted");
        std::lock_guard<std::mutex> lock(mu_);
        if (lease_ == id) lease_ = 0;
      }
    } catch (const std::exception& e) {
      host_.warn(std::string("keeping the rollout lease alive: ") + e.what());
    }
  }

  haul::sdk::Host host_;
  EtcdApi api_;
  std::string prefix_;
  milliseconds ttl_;
  std::mutex mu_;
  int64_t lease_ = 0;
  std::unique_ptr<haul::plugins::Ticker> keeper_ =
      std::make_unique<haul::plugins::Ticker>(ttl_ / 3, [this] { keep_alive(); });  // last: it uses the rest
};

using EtcdRolloutGate = rollout::GatePlugin<EtcdRolloutStore>;

}  // namespace

HAUL_GATE_PLUGIN(EtcdRolloutGate, "etcd-rollout", "1.0.0",
                 "Rollouts coordinated through etcd v3 leases and transactions: canary, batches, fleet-wide halt", kFields)
