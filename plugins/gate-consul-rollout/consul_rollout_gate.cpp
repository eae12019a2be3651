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
// enter/leave (the deploy thread) and watch (the agent's rollout watch) may
// run at once: the only shared state is the session, under a mutex.
#include <haul/sdk.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "net/consul_api.hpp"
#include "rollout_ledger.hpp"

namespace {

using namespace haul::net;
namespace rollout = haul::rollout;
using haul::sdk::GateRequest;
using haul::sdk::Verdict;
using std::chrono::milliseconds;

constexpr milliseconds kMaxBlock{std::chrono::minutes(5)};  // Consul's default wait

const haul_config_field kFields[] = {
    HAUL_CONSUL_CONNECTION_FIELDS("key:write on <prefix>/rollout/ and session:write"),
    {"prefix", "string", "haul", "KV prefix; rollouts live under <prefix>/rollout/<pipeline>/<release>/", 0},
    {"session_ttl", "duration", "15s",
     "TTL of the node's Consul session (10s-24h): a node that dies holding a slot frees it within about twice this", 0},
    {nullptr, nullptr, nullptr, nullptr, 0},
};

// Consul unreachable, restarting or without a leader: a waiting node waits
// on (deploying without the gate would be unsafe), retrying with backoff.
struct Transient : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// What one recursive read of a release's prefix shows.
struct Snapshot {
  std::optional<rollout::Ledger> ledger;
  uint64_t ledger_index = 0;  // ModifyIndex for ?cas=; 0 = absent
  std::map<std::string, std::string> holders;  // node -> session holding nodes/<node>
  uint64_t index = 0;  // X-Consul-Index for the next blocking query
};

// Waits between attempts while Consul is away: 1 s doubling to 15 s, cut
// short by a cancel; says so once per outage.
class Backoff {
 public:
  void wait(const GateRequest& req, const std::string& why) {
    if (delay_ == milliseconds(0)) {
      req.log(HAUL_LOG_WARN, "Consul is unreachable (" + why + "); the rollout gate keeps trying");
      delay_ = milliseconds(1000);
    }
    const auto until = std::chrono::steady_clock::now() + delay_;
    while (std::chrono::steady_clock::now() < until) {
      if (req.cancelled()) throw haul::sdk::Cancelled();
      std::this_thread::sleep_for(milliseconds(100));
    }
    delay_ = std::min(delay_ * 2, milliseconds(15000));
  }
  void reset(const GateRequest& req) {
    if (delay_ != milliseconds(0)) req.log(HAUL_LOG_INFO, "Consul answers again; the rollout gate goes on");
    delay_ = milliseconds(0);
  }

 private:
  milliseconds delay_{0};
};

class ConsulRolloutGate {
 public:
  ConsulRolloutGate(const haul::sdk::Config& cfg, const haul::sdk::Host& host)
      : host_(host), api_(consul_settings_from_config(cfg)), prefix_(cfg.str("prefix", "haul")),
        ttl_(cfg.duration("session_ttl", std::chrono::seconds(15))) {
    if (ttl_ < std::chrono::seconds(10) || ttl_ > std::chrono::hours(24))
      throw std::runtime_error("session_ttl must be between 10s and 24h (Consul's session TTL range), got " +
                               std::to_string(ttl_.count()) + "ms");
    while (!prefix_.empty() && prefix_.back() == '/') prefix_.pop_back();
  }

  ~ConsulRolloutGate() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
      cv_.notify_all();
    }
    if (renewer_.joinable()) renewer_.join();
    const std::string sid = session();
    if (!sid.empty()) {
      try {
        api_.call("PUT", "/v1/session/destroy/" + sid, "", std::chrono::seconds(5));
      } catch (const std::exception&) {
        // The TTL ends it anyway.
      }
    }
  }

  Verdict enter(const GateRequest& req) {
    const std::string base = base_of(req.pipeline(), req.release());
    uint64_t index = 0;
    milliseconds block_for = kMaxBlock;
    std::string last_why;
    Backoff backoff;
    while (true) {
      if (req.cancelled()) throw haul::sdk::Cancelled();
      try {
        if (auto v = enter_round(req, base, index, block_for, last_why)) return *v;
        backoff.reset(req);
      } catch (const Transient& e) {
        backoff.wait(req, e.what());
        index = 0;
      }
    }
  }

  // One read-decide-write round of enter(); nullopt: wait (index and
  // block_for say for what).
  std::optional<Verdict> enter_round(const GateRequest& req, const std::string& base, uint64_t& index,
                                     milliseconds& block_for, std::string& last_why) {
    const std::string me = req.node();
    Snapshot s = read(base, index, block_for, req);
    const std::string sid = ensure_session();
    auto held = s.holders.find(me);
    if (held == s.holders.end() || held->second != sid) {
      // Not held by this process's session: take the key (a crashed run of
      // this node may still hold it until its session lapses — then it is
      // still live, and so is this node).
      if (acquire(base, me, sid)) s.holders[me] = sid;
    }
    rollout::Ledger ledger = s.ledger ? *s.ledger : rollout::start(req.release(), req.policy(), rollout::now_ms());
    std::set<std::string> live;
    for (const auto& [node, session] : s.holders) live.insert(node);
    const rollout::Decision d = rollout::admit(ledger, me, rollout::now_ms(), live);
    if (d.changed && !write(base, ledger, s.ledger_index)) {
      index = 0;  // another node wrote first: read its version and decide again
      return std::nullopt;
    }
    if (d.kind == rollout::Decision::proceed) {
      req.log(HAUL_LOG_INFO, "rollout of " + req.release() + ": slot taken" +
                                 (ledger.nodes[me].canary ? " as a canary" : "") + " (" +
                                 std::to_string(ledger.nodes.size()) + " nodes in the rollout)");
      return Verdict::proceed;
    }
    if (d.kind == rollout::Decision::halted) {
      forget(base, me);
      req.log(HAUL_LOG_WARN, "rollout of " + req.release() + " is halted: " + ledger.halted->reason);
      return Verdict::halted;
    }
    if (d.why != last_why) req.log(HAUL_LOG_INFO, "rollout of " + req.release() + ": waiting for " + d.why);
    last_why = d.why;
    index = s.index;
    block_for = d.recheck_in.count() > 0 ? std::min(d.recheck_in + milliseconds(50), kMaxBlock) : kMaxBlock;
    return std::nullopt;
  }

  // The outcome must reach the ledger (a failure may halt the release):
  // retried through a Consul outage for up to a minute. A ledger Consul lost
  // (a restart without its data) is started again with this outcome.
  void leave(const GateRequest& req, bool succeeded, const std::string& error) {
    const std::string base = base_of(req.pipeline(), req.release());
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::minutes(1);
    Backoff backoff;
    while (true) {
      try {
        update(base, req.release(), &req.policy(), [&](rollout::Ledger& l) {
          rollout::finish(l, req.node(), succeeded, error, rollout::now_ms());
          if (l.halted && l.halted->by == req.node())
            req.log(HAUL_LOG_ERROR, "rollout of " + req.release() + " halted fleet-wide: " + l.halted->reason);
        });
        break;
      } catch (const Transient& e) {
        if (std::chrono::steady_clock::now() > give_up) throw;
        backoff.wait(req, e.what());
      }
    }
    forget(base, req.node());
  }

  std::optional<Verdict> watch(const GateRequest& req, milliseconds timeout) {
    const std::string base = base_of(req.pipeline(), req.release());
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    uint64_t index = 0;
    while (true) {
      if (req.cancelled()) throw haul::sdk::Cancelled();
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      Snapshot s = read(base, index, std::min(left, kMaxBlock), req);
      if (!s.ledger) return Verdict::proceed;  // removed by an operator: nothing to watch
      if (s.ledger->halted) return Verdict::halted;
      if (rollout::complete(*s.ledger, rollout::now_ms())) return Verdict::proceed;
      index = s.index;
    }
  }

  std::string control(const std::string& verb, const std::string& pipeline, const std::string& release,
                      const std::string& reason) {
    if (verb != "status" && verb != "halt" && verb != "resume")
      throw std::runtime_error("unknown rollout command '" + verb + "'; expected status, halt or resume");
    std::vector<rollout::Ledger> all = ledgers_of(pipeline);
    std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.started_at_ms > b.started_at_ms; });
    if (!release.empty()) {
      auto it = std::find_if(all.begin(), all.end(), [&](const auto& l) { return l.release == release; });
      if (it == all.end()) {
        std::string known;
        for (const auto& l : all) known += (known.empty() ? "" : ", ") + l.release;
        throw std::runtime_error("no rollout of release '" + release + "' for pipeline " + pipeline + " under " +
                                 api_.settings().address + "/v1/kv/" + prefix_ + "/rollout/" +
                                 rollout::key_segment(pipeline) + "/; known: " + (known.empty() ? "none" : known));
      }
      all = {*it};
    }
    if (verb != "status") {
      if (all.empty())
        throw std::runtime_error("no rollout of pipeline " + pipeline + " under " + api_.settings().address + "/v1/kv/" +
                                 prefix_ + "/rollout/" + rollout::key_segment(pipeline) +
                                 "/ — no node has reached the gate for a release yet");
      const std::string target = all.front().release;
      all = {update(base_of(pipeline, target), target, nullptr, [&](rollout::Ledger& l) {
        if (verb == "halt") rollout::halt(l, reason.empty() ? "halted by an operator" : reason, "operator", rollout::now_ms());
        else rollout::resume(l, rollout::now_ms());
      })};
    }
    nlohmann::json out = {{"rollouts", nlohmann::json::array()}};
    const uint64_t now = rollout::now_ms();
    for (const auto& l : all) {
      nlohmann::json j = nlohmann::json::parse(l.dump());
      j["progress"] = rollout::progress(l, now);
      j["slot_limit"] = rollout::slot_limit(l);
      out["rollouts"].push_back(j);
    }
    return out.dump();
  }

 private:
  std::string base_of(const std::string& pipeline, const std::string& release) const {
    return prefix_ + "/rollout/" + rollout::key_segment(pipeline) + "/" + rollout::key_segment(release) + "/";
  }

  // One recursive read of base; a blocking query of up to block_for when
  // index is set.
  Snapshot read(const std::string& base, uint64_t index, milliseconds block_for, const GateRequest& req) {
    std::string path = "/v1/kv/" + base + "?recurse";
    milliseconds timeout{std::chrono::seconds(30)};
    if (index) {
      path += "&index=" + std::to_string(index) + "&wait=" + std::to_string(block_for.count()) + "ms";
      // Consul adds up to wait/16 of jitter before it answers.
      timeout = block_for + block_for / 16 + std::chrono::seconds(10);
    }
    HttpResponse r = call("GET", path, "", timeout, [&req] { return req.cancelled(); });
    if (req.cancelled()) throw haul::sdk::Cancelled();
    if (r.status != 200 && r.status != 404) throw unexpected("GET", path, r);
    Snapshot s;
    auto idx = r.headers.find("x-consul-index");
    s.index = idx == r.headers.end() ? 0 : std::strtoull(idx->second.c_str(), nullptr, 10);
    // Consul: an index that went backwards (or 0) means start over.
    if (s.index < index || s.index == 0) s.index = 0;
    if (r.status == 404) return s;
    for (const auto& item : nlohmann::json::parse(r.body)) {
      const std::string key = item.value("Key", "");
      const std::string rest = key.substr(std::min(key.size(), base.size()));
      const std::string value = item["Value"].is_string() ? base64_decode(item["Value"].get<std::string>()) : "";
      if (rest == "ledger") {
        s.ledger = rollout::Ledger::parse(value, "Consul KV " + key);
        s.ledger_index = item.value("ModifyIndex", uint64_t{0});
      } else if (rest.rfind("nodes/", 0) == 0 && item.contains("Session")) {
        s.holders[value.empty() ? rest.substr(6) : value] = item["Session"].get<std::string>();  // value: the node's name
      }
    }
    return s;
  }

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

  // Writes the ledger if nobody changed it since `modify_index` (0: if absent).
  bool write(const std::string& base, const rollout::Ledger& l, uint64_t modify_index) {
    const std::string path = "/v1/kv/" + base + "ledger?cas=" + std::to_string(modify_index);
    HttpResponse r = call("PUT", path, l.dump());
    if (r.status != 200) throw unexpected("PUT", path, r);
    return haul::sdk::trim(r.body) == "true";
  }

  // Read-change-CAS until it sticks; returns the ledger as written. A missing
  // ledger is started with `policy`, or is an error without one.
  template <class F>
  rollout::Ledger update(const std::string& base, const std::string& release, const haul_rollout_policy* policy,
                         F&& change) {
    const std::string path = "/v1/kv/" + base + "ledger";
    for (int attempt = 0; attempt < 1000; ++attempt) {
      HttpResponse r = call("GET", path);
      rollout::Ledger l;
      uint64_t index = 0;
      if (r.status == 404 && policy) {
        l = rollout::start(release, *policy, rollout::now_ms());
      } else if (r.status == 404) {
        throw std::runtime_error("no rollout ledger at " + api_.settings().address + path);
      } else if (r.status != 200) {
        throw unexpected("GET", path, r);
      } else {
        const auto item = nlohmann::json::parse(r.body).at(0);
        l = rollout::Ledger::parse(base64_decode(item.value("Value", "")), "Consul KV " + base + "ledger");
        index = item.value("ModifyIndex", uint64_t{0});
      }
      change(l);
      if (write(base, l, index)) return l;
    }
    throw std::runtime_error("rollout of " + release + ": the ledger kept changing under 1000 attempts to update it");
  }

  std::vector<rollout::Ledger> ledgers_of(const std::string& pipeline) {
    const std::string path = "/v1/kv/" + prefix_ + "/rollout/" + rollout::key_segment(pipeline) + "/?recurse";
    HttpResponse r = call("GET", path);
    std::vector<rollout::Ledger> out;
    if (r.status == 404) return out;
    if (r.status != 200) throw unexpected("GET", path, r);
    for (const auto& item : nlohmann::json::parse(r.body)) {
      const std::string key = item.value("Key", "");
      if (key.size() < 7 || key.compare(key.size() - 7, 7, "/ledger") != 0 || !item["Value"].is_string()) continue;
      out.push_back(rollout::Ledger::parse(base64_decode(item["Value"].get<std::string>()), "Consul KV " + key));
    }
    return out;
  }

  bool acquire(const std::string& base, const std::string& node, const std::string& sid) {
    HttpResponse r = call("PUT", "/v1/kv/" + base + "nodes/" + rollout::key_segment(node) + "?acquire=" + sid, node);
    if (r.status == 500 && r.body.find("invalid session") != std::string::npos) {
      drop_session(sid);  // lapsed between create and acquire: a new one next round
      return false;
    }
    if (r.status != 200)
      throw std::runtime_error("PUT " + api_.settings().address + "/v1/kv/" + base + "nodes/" + node +
                               "?acquire: HTTP " + std::to_string(r.status) + ": " + r.body);
    return haul::sdk::trim(r.body) == "true";
  }

  void forget(const std::string& base, const std::string& node) {
    try {
      api_.call("DELETE", "/v1/kv/" + base + "nodes/" + rollout::key_segment(node));
    } catch (const std::exception& e) {
      host_.warn(std::string("cannot remove the rollout key of this node (its session's TTL will): ") + e.what());
    }
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
    if (!renewer_.joinable()) renewer_ = std::thread([this] { renew_loop(); });
    return sid;
  }

  void renew_loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!cv_.wait_for(lock, ttl_ / 2, [this] { return stopping_; })) {
      const std::string sid = session_;
      if (sid.empty()) continue;
      lock.unlock();
      try {
        HttpResponse r = api_.call("PUT", "/v1/session/renew/" + sid, "", std::chrono::seconds(10));
        if (r.status == 404) {
          host_.warn("the rollout session " + sid + " lapsed (Consul restarted, or this node was cut off); a new one is made");
          drop_session(sid);
        }
      } catch (const std::exception& e) {
        host_.warn(std::string("renewing the rollout session: ") + e.what());
      }
      lock.lock();
    }
  }

  haul::sdk::Host host_;
  ConsulApi api_;
  std::string prefix_;
  milliseconds ttl_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::string session_;
  std::thread renewer_;
};

}  // namespace

HAUL_GATE_PLUGIN(ConsulRolloutGate, "consul-rollout", "1.0.0",
                 "Rollouts coordinated through Consul KV and sessions: canary, batches, fleet-wide halt", kFields)
