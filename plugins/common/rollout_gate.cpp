// SPDX-License-Identifier: Apache-2.0
#include "rollout_gate.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <thread>

namespace haul::rollout {
namespace {

using haul::sdk::GateRequest;
using haul::sdk::Verdict;

constexpr milliseconds kMaxBlock{std::chrono::minutes(5)};  // Consul's default wait

// Waits between attempts while the store is away: 1 s doubling to 15 s, cut
// short by a cancel; says so once per outage.
class Backoff {
 public:
  explicit Backoff(std::string store) : store_(std::move(store)) {}
  void wait(const GateRequest& req, const std::string& why) {
    if (delay_ == milliseconds(0)) {
      req.log(HAUL_LOG_WARN, store_ + " is unreachable (" + why + "); the rollout gate keeps trying");
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
    if (delay_ != milliseconds(0)) req.log(HAUL_LOG_INFO, store_ + " answers again; the rollout gate goes on");
    delay_ = milliseconds(0);
  }

 private:
  std::string store_;
  milliseconds delay_{0};
};

}  // namespace

std::string pipeline_keys(const std::string& prefix, const std::string& pipeline) {
  return prefix + "/rollout/" + key_segment(pipeline) + "/";
}
std::string release_keys(const std::string& prefix, const std::string& pipeline, const std::string& release) {
  return pipeline_keys(prefix, pipeline) + key_segment(release) + "/";
}
std::string node_key(const std::string& prefix, const std::string& pipeline, const std::string& release,
                     const std::string& node) {
  return release_keys(prefix, pipeline, release) + "nodes/" + key_segment(node);
}
bool is_ledger_key(const std::string& key) { return key.size() > 7 && key.compare(key.size() - 7, 7, "/ledger") == 0; }

Verdict RolloutGate::enter(const GateRequest& req) {
  uint64_t after = 0;
  milliseconds block_for = kMaxBlock;
  std::string last_why;
  Backoff backoff(store_.name());
  while (true) {
    if (req.cancelled()) throw haul::sdk::Cancelled();
    try {
      const std::optional<Verdict> v = enter_round(req, after, block_for, last_why);
      backoff.reset(req);  // says "answers again" even when this round decides
      if (v) return *v;
    } catch (const Transient& e) {
      backoff.wait(req, e.what());
      after = 0;
    }
  }
}

std::optional<Verdict> RolloutGate::enter_round(const GateRequest& req, uint64_t& after, milliseconds& block_for,
                                                std::string& last_why) {
  const std::string me = req.node();
  Snapshot s = store_.read(req.pipeline(), req.release(), after, block_for, [&req] { return req.cancelled(); });
  auto held = s.live.find(me);
  if (held == s.live.end() || held->second != store_.holder()) {
    // Not live under this process's session/lease: take the mark (a crashed
    // run of this node may still hold it until its lease lapses — then it
    // is still live, and so is this node).
    if (store_.enrol(req.pipeline(), req.release(), me)) s.live[me] = store_.holder();
  }
  Ledger ledger = s.ledger ? *s.ledger : start(req.release(), req.policy(), now_ms());
  std::set<std::string> live;
  for (const auto& [node, holder] : s.live) live.insert(node);
  const Decision d = admit(ledger, me, now_ms(), live);
  if (d.changed && !store_.write(req.pipeline(), req.release(), ledger, s.version)) {
    after = 0;  // another node wrote first: read its version and decide again
    return std::nullopt;
  }
  if (d.kind == Decision::proceed) {
    req.log(HAUL_LOG_INFO, "rollout of " + req.release() + ": slot taken" + (d.canary ? " as a canary" : "") +
                               " (" + std::to_string(ledger.nodes.size()) + " nodes in the rollout)");
    return Verdict::proceed;
  }
  if (d.kind == Decision::halted) {
    store_.forget(req.pipeline(), req.release(), me);
    req.log(HAUL_LOG_WARN, "rollout of " + req.release() + " is halted: " + ledger.halted->reason);
    return Verdict::halted;
  }
  if (d.why != last_why) req.log(HAUL_LOG_INFO, "rollout of " + req.release() + ": waiting for " + d.why);
  last_why = d.why;
  after = s.after;
  block_for = d.recheck_in.count() > 0 ? std::min(d.recheck_in + milliseconds(50), kMaxBlock) : kMaxBlock;
  return std::nullopt;
}

// The outcome must reach the ledger (a failure may halt the release):
// retried through an outage for up to a minute. A ledger the store lost (a
// restart without its data) is started again with this outcome.
void RolloutGate::leave(const GateRequest& req, bool succeeded, const std::string& error) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::minutes(1);
  Backoff backoff(store_.name());
  while (true) {
    try {
      update(req.pipeline(), req.release(), &req.policy(), [&](Ledger& l) {
        finish(l, req.node(), succeeded, error, now_ms());
        if (l.halted && l.halted->by == req.node())
          req.log(HAUL_LOG_ERROR, "rollout of " + req.release() + " halted fleet-wide: " + l.halted->reason);
      });
      break;
    } catch (const Transient& e) {
      if (std::chrono::steady_clock::now() > give_up) throw;
      backoff.wait(req, e.what());
    }
  }
  store_.forget(req.pipeline(), req.release(), req.node());
}

std::optional<Verdict> RolloutGate::watch(const GateRequest& req, milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  uint64_t after = 0;
  while (true) {
    if (req.cancelled()) throw haul::sdk::Cancelled();
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    Snapshot s = store_.read(req.pipeline(), req.release(), after, std::min(left, kMaxBlock),
                             [&req] { return req.cancelled(); });
    if (!s.ledger) return Verdict::proceed;  // removed by an operator: nothing to watch
    if (s.ledger->halted) return Verdict::halted;
    if (complete(*s.ledger, now_ms())) return Verdict::proceed;
    after = s.after;
  }
}

std::string RolloutGate::control(const std::string& verb, const std::string& pipeline, const std::string& release,
                                 const std::string& reason) {
  if (verb != "status" && verb != "halt" && verb != "resume")
    throw std::runtime_error("unknown rollout command '" + verb + "'; expected status, halt or resume");
  std::vector<Ledger> all = store_.ledgers(pipeline);
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.started_at_ms > b.started_at_ms; });
  if (!release.empty()) {
    auto it = std::find_if(all.begin(), all.end(), [&](const auto& l) { return l.release == release; });
    if (it == all.end()) {
      std::string known;
      for (const auto& l : all) known += (known.empty() ? "" : ", ") + l.release;
      throw std::runtime_error("no rollout of release '" + release + "' for pipeline " + pipeline + " under " +
                               store_.where(pipeline) + "; known: " + (known.empty() ? "none" : known));
    }
    all = {*it};
  }
  if (verb != "status") {
    if (all.empty())
      throw std::runtime_error("no rollout of pipeline " + pipeline + " under " + store_.where(pipeline) +
                               " — no node has reached the gate for a release yet");
    const std::string target = all.front().release;
    all = {update(pipeline, target, nullptr, [&](Ledger& l) {
      if (verb == "halt") halt(l, reason.empty() ? "halted by an operator" : reason, "operator", now_ms());
      else resume(l, now_ms());
    })};
  }
  nlohmann::json out = {{"rollouts", nlohmann::json::array()}};
  const uint64_t now = now_ms();
  for (const auto& l : all) {
    nlohmann::json j = nlohmann::json::parse(l.dump());
    j["progress"] = progress(l, now);
    j["soak_left_ms"] = l.halted ? 0 : soak_left_ms(l, now);  // a resume may start it again in full
    j["slot_limit"] = slot_limit(l);
    out["rollouts"].push_back(j);
  }
  return out.dump();
}

Ledger RolloutGate::update(const std::string& pipeline, const std::string& release, const haul_rollout_policy* policy,
                           const std::function<void(Ledger&)>& change) {
  for (int attempt = 0; attempt < 1000; ++attempt) {
    Snapshot s = store_.read(pipeline, release, 0, milliseconds(0), nullptr);
    Ledger l;
    if (s.ledger) l = *s.ledger;
    else if (policy) l = start(release, *policy, now_ms());
    else throw std::runtime_error("no rollout of release " + release + " under " + store_.where(pipeline));
    change(l);
    if (store_.write(pipeline, release, l, s.version)) return l;
  }
  throw std::runtime_error("rollout of " + release + ": the ledger kept changing under 1000 attempts to update it");
}

}  // namespace haul::rollout
