// SPDX-License-Identifier: Apache-2.0
#include "rollout_ledger.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace haul::rollout {
namespace {

using nlohmann::json;

bool active(NodeState s) { return s == NodeState::waiting || s == NodeState::deploying; }

NodeState state_from(const std::string& s, const std::string& where) {
  if (s == "waiting") return NodeState::waiting;
  if (s == "deploying") return NodeState::deploying;
  if (s == "done") return NodeState::done;
  if (s == "failed") return NodeState::failed;
  if (s == "held") return NodeState::held;
  throw std::runtime_error(where + ": node state '" + s + "' is not waiting, deploying, done, failed or held");
}

size_t count(const Ledger& l, bool (*pred)(const NodeEntry&)) {
  return static_cast<size_t>(std::count_if(l.nodes.begin(), l.nodes.end(), [&](const auto& kv) { return pred(kv.second); }));
}

// The canary slots taken so far, and whether a canary still deploys. (A
// canary that waits entered again after its outcome: its canary deploy is
// over.)
struct Canaries {
  size_t taken = 0;
  bool running = false;
  uint64_t last_finish_ms = 0;
};

Canaries canaries_of(const Ledger& l) {
  Canaries c;
  for (const auto& [name, e] : l.nodes) {
    if (!e.canary) continue;
    ++c.taken;
    if (e.state == NodeState::deploying) c.running = true;
    else c.last_finish_ms = std::max(c.last_finish_ms, e.since_ms);
  }
  return c;
}

bool canary_stage_over(const Ledger& l) { return l.policy.canary == 0 || l.soak_from_ms != 0; }

// Latches the end of the canary stage once its last canary finished.
void latch_canary_stage(Ledger& l, uint64_t now) {
  if (canary_stage_over(l)) return;
  const Canaries c = canaries_of(l);
  if (c.taken >= l.policy.canary && !c.running) l.soak_from_ms = std::max<uint64_t>(1, now);
}

size_t deploying(const Ledger& l, bool canary) {
  return static_cast<size_t>(std::count_if(l.nodes.begin(), l.nodes.end(), [&](const auto& kv) {
    return kv.second.state == NodeState::deploying && kv.second.canary == canary;
  }));
}

std::string plural(size_t n, const char* one, const char* many) { return std::to_string(n) + " " + (n == 1 ? one : many); }

}  // namespace

const char* state_name(NodeState s) {
  switch (s) {
    case NodeState::waiting: return "waiting";
    case NodeState::deploying: return "deploying";
    case NodeState::done: return "done";
    case NodeState::failed: return "failed";
    case NodeState::held: return "held";
  }
  return "unknown";
}

Ledger Ledger::parse(const std::string& text, const std::string& where) {
  Ledger l;
  try {
    const json j = json::parse(text);
    l.release = j.at("release").get<std::string>();
    l.started_at_ms = j.value("started_at_ms", uint64_t{0});
    l.resumed_at_ms = j.value("resumed_at_ms", uint64_t{0});
    l.soak_from_ms = j.value("soak_from_ms", uint64_t{0});
    const json& p = j.at("policy");
    l.policy.struct_size = sizeof l.policy;
    l.policy.canary = p.at("canary").get<uint32_t>();
    l.policy.canary_soak_ms = p.at("canary_soak_ms").get<uint64_t>();
    l.policy.max_parallel = p.at("max_parallel").get<uint32_t>();
    l.policy.max_parallel_percent = p.at("max_parallel_percent").get<uint32_t>();
    l.policy.max_failures = std::max<uint32_t>(1, p.at("max_failures").get<uint32_t>());
    l.policy.rollback_on_halt = p.at("on_halt").get<std::string>() == "rollback";
    for (const auto& [name, n] : j.at("nodes").items()) {
      NodeEntry e;
      e.state = state_from(n.at("state").get<std::string>(), where + ": node " + name);
      e.canary = n.value("canary", false);
      e.since_ms = n.value("since_ms", uint64_t{0});
      e.error = n.value("error", "");
      l.nodes[name] = e;
    }
    if (j.contains("halted") && !j["halted"].is_null()) {
      const json& h = j["halted"];
      l.halted = Halt{h.value("reason", ""), h.value("by", ""), h.value("at_ms", uint64_t{0})};
    }
    // A ledger from before the latch existed: the stage ended at its last
    // canary's finish.
    if (!j.contains("soak_from_ms") && l.policy.canary > 0) {
      const Canaries c = canaries_of(l);
      if (c.taken >= l.policy.canary && !c.running) l.soak_from_ms = std::max<uint64_t>(1, c.last_finish_ms);
    }
  } catch (const json::exception& e) {
    throw std::runtime_error(where + ": not a rollout ledger (" + e.what() + ")");
  }
  return l;
}

std::string Ledger::dump() const {
  json nodes_json = json::object();
  for (const auto& [name, e] : nodes) {
    json n = {{"state", state_name(e.state)}, {"canary", e.canary}, {"since_ms", e.since_ms}};
    if (!e.error.empty()) n["error"] = e.error;
    nodes_json[name] = n;
  }
  json j = {
      {"release", release},
      {"started_at_ms", started_at_ms},
      {"resumed_at_ms", resumed_at_ms},
      {"soak_from_ms", soak_from_ms},
      {"policy",
       {{"canary", policy.canary},
        {"canary_soak_ms", policy.canary_soak_ms},
        {"max_parallel", policy.max_parallel},
        {"max_parallel_percent", policy.max_parallel_percent},
        {"max_failures", policy.max_failures},
        {"on_halt", policy.rollback_on_halt ? "rollback" : "stay"}}},
      {"nodes", nodes_json},
      {"halted", halted ? json{{"reason", halted->reason}, {"by", halted->by}, {"at_ms", halted->at_ms}} : json()},
  };
  return j.dump();
}

Ledger start(const std::string& release, const haul_rollout_policy& policy, uint64_t now) {
  Ledger l;
  l.release = release;
  l.started_at_ms = now;
  l.policy = policy;
  l.policy.struct_size = sizeof l.policy;
  l.policy.max_failures = std::max<uint32_t>(1, policy.max_failures);
  return l;
}

uint32_t slot_limit(const Ledger& l) {
  if (l.policy.max_parallel > 0) return l.policy.max_parallel;
  const uint64_t share = static_cast<uint64_t>(l.nodes.size()) * l.policy.max_parallel_percent / 100;
  return static_cast<uint32_t>(std::max<uint64_t>(1, share));
}

Decision admit(Ledger& l, const std::string& node, uint64_t now, const std::set<std::string>& live) {
  Decision d;
  for (auto it = l.nodes.begin(); it != l.nodes.end();) {
    if (active(it->second.state) && it->first != node && !live.count(it->first)) {
      it = l.nodes.erase(it);  // a dead canary's place goes to the next node
      d.changed = true;
    } else {
      ++it;
    }
  }
  if (l.halted) {
    d.kind = Decision::halted;
    auto [me, added] = l.nodes.try_emplace(node);
    if (added || me->second.state == NodeState::waiting) {  // held back: status counts it
      me->second = NodeEntry{NodeState::held, me->second.canary, now, ""};
      d.changed = true;
    }
    return d;
  }
  auto [it, added] = l.nodes.try_emplace(node);
  NodeEntry& me = it->second;
  if (me.state == NodeState::deploying) {
    d.kind = Decision::proceed;
    d.canary = me.canary && !canary_stage_over(l);
    return d;
  }
  if (added || me.state != NodeState::waiting) {  // new, or the same release again after an outcome
    me = NodeEntry{NodeState::waiting, me.canary, now, ""};
    d.changed = true;
  }
  auto take_slot = [&](bool canary) {
    me.state = NodeState::deploying;
    me.canary = me.canary || canary;
    me.since_ms = now;
    d.kind = Decision::proceed;
    d.canary = canary;
    d.changed = true;
    return d;
  };
  if (!canary_stage_over(l)) {
    // Only canaries deploy now, at most `canary` at once; a canary that
    // enters again keeps its place.
    const Canaries c = canaries_of(l);
    const bool place = me.canary || c.taken < l.policy.canary;
    const size_t others = deploying(l, false);
    if (place && others == 0 && deploying(l, true) < l.policy.canary) return take_slot(true);
    d.why = "the canary stage (" + std::to_string(c.taken) + " of " + plural(l.policy.canary, "canary", "canaries") +
            (others ? "; " + plural(others, "node", "nodes") + " from before the resume still deploying" : "") + ")";
    return d;
  }
  if (const uint64_t left = soak_left_ms(l, now)) {
    d.recheck_in = std::chrono::milliseconds(left);
    d.why = "the canary soak (" + std::to_string((left + 999) / 1000) + "s left)";
    return d;
  }
  const size_t busy = deploying(l, false) + deploying(l, true);
  const uint32_t limit = slot_limit(l);
  if (busy < limit) return take_slot(false);
  d.why = "a slot (" + std::to_string(busy) + " of " + std::to_string(limit) + " nodes deploying)";
  return d;
}

void finish(Ledger& l, const std::string& node, bool ok, const std::string& error, uint64_t now) {
  NodeEntry& e = l.nodes[node];  // re-added if it was dropped while it deployed (its session lapsed)
  e.state = ok ? NodeState::done : NodeState::failed;
  e.since_ms = now;
  e.error = ok ? "" : error;
  if (e.canary) latch_canary_stage(l, now);
  if (ok || l.halted) return;
  std::string failures;
  size_t n = 0;
  for (const auto& [name, f] : l.nodes)
    if (f.state == NodeState::failed && f.since_ms >= l.resumed_at_ms) {
      ++n;
      if (failures.size() < 400) failures += (failures.empty() ? "" : "; ") + name + ": " + f.error;
    }
  if (n >= l.policy.max_failures)
    halt(l, plural(n, "node", "nodes") + " failed (max_failures " + std::to_string(l.policy.max_failures) + ") — " + failures,
         node, now);
}

void halt(Ledger& l, const std::string& reason, const std::string& by, uint64_t now) {
  l.halted = Halt{reason, by, now};
}

void resume(Ledger& l, uint64_t now) {
  const bool early = l.halted && (!canary_stage_over(l) || l.halted->at_ms < l.soak_from_ms + l.policy.canary_soak_ms);
  l.halted.reset();
  l.resumed_at_ms = now;
  if (!early || l.policy.canary == 0) return;
  // The halt stopped the canary stage or its soak: failed canaries are
  // forgiven (the next nodes take their places) and the soak starts again.
  for (auto& [name, e] : l.nodes)
    if (e.canary && e.state == NodeState::failed) e.canary = false;
  l.soak_from_ms = 0;
  latch_canary_stage(l, now);
}

bool complete(const Ledger& l, uint64_t now) {
  if (l.halted) return false;
  for (const auto& [name, e] : l.nodes)
    if (active(e.state)) return false;
  return soak_left_ms(l, now) == 0;
}

uint64_t soak_left_ms(const Ledger& l, uint64_t now) {
  if (l.policy.canary == 0 || l.soak_from_ms == 0) return 0;
  const uint64_t end = l.soak_from_ms + l.policy.canary_soak_ms;
  return now < end ? end - now : 0;
}

std::string progress(const Ledger& l, uint64_t now) {
  if (l.halted) return "halted";
  auto any = [&](bool (*pred)(NodeState)) {
    return std::any_of(l.nodes.begin(), l.nodes.end(), [&](const auto& kv) { return pred(kv.second.state); });
  };
  const bool anyone = any(active);
  if (!canary_stage_over(l) && anyone) return "canary";
  if (soak_left_ms(l, now)) return "soaking";
  if (anyone) return "rolling";
  return any([](NodeState s) { return s == NodeState::held; }) ? "held" : "done";
}

std::string key_segment(const std::string& s) {
  std::string out;
  for (char c : s)
    out += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-') ? c : '_';
  if (out.empty() || out == "." || out == "..") out = "_" + out;
  return out;
}

uint64_t now_ms() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

}  // namespace haul::rollout
