// SPDX-License-Identifier: Apache-2.0
// Trigger "etcd-watch": a deploy event is a write to one etcd key (or any
// key under a prefix) whose value is the manifest URL — `haul kick --via
// etcd` writes it. The event's ltime is the write's mod_revision, so the
// core's exactly-once record works as with Consul's LTime: a revision seen
// before is never applied twice, across restarts; a cluster restored from an
// older snapshot (revisions that went backwards) gets the same
// apply-unless-running rule as a Consul whose event history was reset.
//
// The poller (from the first next(); making the trigger only checks its
// settings) reads the key, then watches it from the next revision through
// the streamed /v3/watch (no polling); each change reads the key again and
// emits its newest value. A compacted revision, a member that died, a
// stream the member ended: all read again (another endpoint if need be).
#include <haul/sdk.hpp>


#include "net/etcd_api.hpp"
#include "../common/polling_trigger.hpp"

namespace {

using namespace haul::net;
using haul::plugins::PollingTrigger;
using std::chrono::milliseconds;

const haul_config_field kFields[] = {
    {"key", "string", nullptr, "the etcd key whose value is the manifest URL, e.g. haul/deploy/web_production", 1},
    {"prefix", "bool", "false", "watch every key under `key` (the newest write wins)", 0},
    HAUL_ETCD_CONNECTION_FIELDS,
    {"wait", "duration", "5m", "how long one watch stream may stay open before it is opened again", 0},
    {"max_backoff", "duration", "30s", "longest wait between attempts while etcd is failing", 0},
    {nullptr, nullptr, nullptr, nullptr, 0},
};

class EtcdWatchTrigger {
 public:
  EtcdWatchTrigger(const haul::sdk::Config& cfg, const haul::sdk::Host& host)
      : host_(host), key_(cfg.str("key")), prefix_(cfg.boolean("prefix")),
        wait_(cfg.duration("wait", std::chrono::minutes(5))),
        max_backoff_(cfg.duration("max_backoff", std::chrono::seconds(30))), api_(etcd_settings_from_config(cfg)) {
    if (key_.empty()) throw std::runtime_error("key is required: the etcd key to watch, e.g. haul/deploy/web");
    poller_.emplace([this](PollingTrigger& p) { poll(p); });
  }

  haul::sdk::Next next(milliseconds timeout, haul::sdk::Event& out) { return poller_->next(timeout, out); }
  void cancel() { poller_->cancel(); }

 private:
  void poll(PollingTrigger& p) {
    host_.info("watching etcd key '" + key_ + "'" + (prefix_ ? " and every key under it" : "") + " at " + api_.endpoint());
    int failures = 0;
    int64_t last_emitted = -1;
    while (!p.stopping()) {
      try {
        int64_t revision = 0;
        const auto kvs = api_.range(key_, prefix_, &revision);
        if (failures) host_.info("etcd at " + api_.endpoint() + " is answering again");
        failures = 0;
        const EtcdKv* newest = nullptr;
        for (const auto& kv : kvs)
          if (!newest || kv.mod_revision > newest->mod_revision) newest = &kv;
        if (newest && newest->mod_revision != last_emitted) {
          last_emitted = newest->mod_revision;
          haul::sdk::Event ev;
          ev.id = "etcd:" + newest->key + "@" + std::to_string(newest->mod_revision);
          ev.ltime = static_cast<uint64_t>(newest->mod_revision);
          ev.name = newest->key;
          ev.payload = newest->value;
          p.emit(std::move(ev));
        }
        api_.watch(key_, prefix_, revision + 1, wait_, [&p] { return p.stopping(); });
      } catch (const std::exception& e) {
        if (p.stopping()) return;
        ++failures;
        if (!p.retry_after(e.what(), failures, milliseconds(250), max_backoff_)) return;
      }
    }
  }

  haul::sdk::Host host_;
  std::string key_;
  bool prefix_;
  milliseconds wait_, max_backoff_;
  EtcdApi api_;
  std::optional<PollingTrigger> poller_;  // last: its thread stops before the rest goes
};

}  // namespace

HAUL_TRIGGER_PLUGIN(EtcdWatchTrigger, "etcd-watch", "1.0.0",
                    "deploy events from an etcd key (its value is the manifest URL), by a streamed watch", kFields)
