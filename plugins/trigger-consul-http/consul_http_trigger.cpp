// SPDX-License-Identifier: Apache-2.0
// Trigger "consul-http": watches one Consul event name with blocking queries
// on /v1/event/list — no `consul watch` process, and one agent can run a
// trigger per role. A background thread long-polls from the first next()
// (making the trigger only checks its settings); next() hands the newest
// new event to the core (which dedups against its persisted state, so a
// restart or a replay of the 256-event buffer never redeploys).
//
// Consul's index for events is a hash of the newest event's ID, not a
// counter: any change means new data, and a value lower than before just
// means "reset" (the first query after it starts from 0 again). Errors back
// off exponentially with jitter; queries are rate-limited so an agent whose
// Consul answers instantly (a flapping index) is not hammered.
#include <haul/sdk.hpp>

#include <optional>

#include "../common/polling_trigger.hpp"
#include "net/consul_api.hpp"
#include "net/consul_events.hpp"

namespace {

using namespace haul::net;
using haul::plugins::PollingTrigger;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

class ConsulHttpTrigger {
 public:
  ConsulHttpTrigger(const haul::sdk::Config& cfg, const haul::sdk::Host& host)
      : host_(host),
        event_(cfg.str("event")),
        wait_(cfg.duration("wait", std::chrono::minutes(5))),
        min_interval_(cfg.duration("min_interval", std::chrono::seconds(1))),
        max_backoff_(cfg.duration("max_backoff", std::chrono::seconds(30))),
        api_(consul_settings_from_config(cfg)) {
    if (event_.empty()) throw std::runtime_error("event is required: the Consul event name to watch, e.g. deploy_web");
    poller_.emplace([this](PollingTrigger& p) { poll(p); });
  }

  haul::sdk::Next next(milliseconds timeout, haul::sdk::Event& out) { return poller_->next(timeout, out); }
  void cancel() { poller_->cancel(); }

 private:
  void poll(PollingTrigger& p) {
    host_.info("watching Consul event '" + event_ + "' at " + api_.settings().address);
    uint64_t index = 0;
    int failures = 0;
    std::string last_emitted;
    Clock::time_point last_query{};
    while (!p.stopping()) {
      // Rate limit: at most one query per min_interval, however fast Consul answers.
      auto since = Clock::now() - last_query;
      if (since < min_interval_ && !p.pause(std::chrono::duration_cast<milliseconds>(min_interval_ - since))) return;
      last_query = Clock::now();
      std::string path = "/v1/event/list?name=" + url_encode_component(event_) +
                         (index ? "&index=" + std::to_string(index) + "&wait=" + std::to_string(wait_.count()) + "ms" : "");
      try {
        // Consul may hold a blocking query up to wait + wait/16.
        HttpResponse r = api_.call("GET", path, "", wait_ + wait_ / 16 + std::chrono::seconds(10),
                                   [&p] { return p.stopping(); });
        if (r.status == 403)
          throw std::runtime_error("Consul refused to list event '" + event_ + "' (HTTP 403): the ACL token needs event:read on it — " + r.body);
        if (r.status != 200)
          throw std::runtime_error("GET " + api_.settings().address + path + ": HTTP " + std::to_string(r.status) + ": " + r.body);
        uint64_t new_index = 0;
        if (auto it = r.headers.find("x-consul-index"); it != r.headers.end()) new_index = std::stoull(it->second);
        // Consul's rule for every blocking endpoint: an index that went
        // backwards resets the wait (here it is a hash, so that only costs
        // one immediate query, which the dedup below absorbs).
        index = new_index < index ? 0 : new_index;
        if (failures) host_.info("Consul at " + api_.settings().address + " is answering again");
        failures = 0;
        auto newest = newest_consul_event(r.body);
        if (!newest || newest->id == last_emitted) continue;
        last_emitted = newest->id;
        haul::sdk::Event ev;
        ev.id = newest->id;
        ev.ltime = newest->ltime;
        ev.name = newest->name;
        ev.payload = newest->payload;
        p.emit(std::move(ev));
      } catch (const std::exception& e) {
        if (p.stopping()) return;
        ++failures;
        index = 0;
        if (!p.retry_after(e.what(), failures, milliseconds(500), max_backoff_)) return;
      }
    }
  }

  haul::sdk::Host host_;
  std::string event_;
  milliseconds wait_, min_interval_, max_backoff_;
  ConsulApi api_;
  std::optional<PollingTrigger> poller_;  // last: its thread stops before the rest goes
};

const haul_config_field kFields[] = {
    {"event", "string", nullptr, "the Consul event name to watch, e.g. deploy_web_production", 1},
    HAUL_CONSUL_CONNECTION_FIELDS("event:read"),
    {"wait", "duration", "5m", "how long one blocking query may wait (Consul caps it at 10m)", 0},
    {"min_interval", "duration", "1s", "at most one query per this interval", 0},
    {"max_backoff", "duration", "30s", "longest wait between attempts while Consul is failing", 0},
    {nullptr, nullptr, nullptr, nullptr, 0},
};

}  // namespace

HAUL_TRIGGER_PLUGIN(ConsulHttpTrigger, "consul-http", "0.1.0",
                    "long-polls Consul's event list for one event name (blocking queries)", kFields)
