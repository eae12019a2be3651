// SPDX-License-Identifier: Apache-2.0
// The rules of a rollout, apart from where they are stored. One release's
// rollout is one ledger (a JSON document in Consul KV or etcd): the policy
// it started with, every node that reached the gate and its state, and the
// halt if there is one. A gate plugin reads the ledger and the set of nodes
// still alive (sessions, leases), lets these functions change it, and
// writes it back with compare-and-swap — so the rules are the same on every
// engine and tested without one.
//
//   waiting ──admit──▶ deploying ──finish──▶ done | failed
//      ▲  │                │ (its node died: session/lease gone)
//      │  └─halted─▶ held  │
//      └───────────────────┘ dropped; the node enters again when it returns
//
// The stages hold across halts, resumes and re-fired events, in any order:
// - the canary stage is over once `canary` nodes took a canary slot and
//   finished; that moment is latched (soak_from_ms) and starts the soak, so
//   a canary that enters again later (a re-fired event) does not reopen it;
// - during the canary stage only canaries deploy, at most `canary` at once;
//   after it and its soak, at most the slot limit — never both at once;
// - a halt during the canary stage or its soak stops the soak's clock: a
//   resume starts the soak again in full (and forgives failed canaries,
//   whose places go to the next nodes), so the release is watched for the
//   whole soak on a fleet that is not halted before anyone else gets it.
#pragma once

#include <haul/plugin.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>

namespace haul::rollout {

// held: was waiting when the release was halted, and stayed on what it runs.
enum class NodeState { waiting, deploying, done, failed, held };

struct NodeEntry {
  NodeState state = NodeState::waiting;
  bool canary = false;    // took a canary slot of this release (kept when it enters again)
  uint64_t since_ms = 0;  // when it entered its state
  std::string error;      // failed: why
};

struct Halt {
  std::string reason, by;  // by: a node name, or "operator"
  uint64_t at_ms = 0;
};

struct Ledger {
  std::string release;
  uint64_t started_at_ms = 0;
  uint64_t resumed_at_ms = 0;   // failures before it no longer count
  // When the canary stage ended and the soak began (moved to a resume's
  // time when the halt came before the soak ended); 0: the stage runs.
  uint64_t soak_from_ms = 0;
  haul_rollout_policy policy{};  // the first node's: every node follows the same rules
  std::map<std::string, NodeEntry> nodes;
  std::optional<Halt> halted;

  // Throws std::runtime_error naming `where` when the text is not a ledger.
  static Ledger parse(const std::string& json, const std::string& where);
  std::string dump() const;
};

struct Decision {
  enum Kind { proceed, halted, wait } kind = wait;
  bool canary = false;   // proceed: the slot is a canary's
  bool changed = false;  // the ledger must be written back
  std::chrono::milliseconds recheck_in{0};  // wait: look again after this even if nothing changes (soak); 0 = on change
  std::string why;       // wait: what the node waits for, for its log
};

// A new ledger for `release`, fixing `policy` for the whole rollout.
Ledger start(const std::string& release, const haul_rollout_policy& policy, uint64_t now_ms);

// Whether `node` may place the release now. Drops waiting and deploying
// nodes that are not `live` (their slot is free again), enrols `node`, and
// admits it as a canary, or after the canaries and their soak, within the
// parallel limit.
Decision admit(Ledger& ledger, const std::string& node, uint64_t now_ms, const std::set<std::string>& live);

// The node's outcome; enough failures since the last resume halt the release.
void finish(Ledger& ledger, const std::string& node, bool succeeded, const std::string& error, uint64_t now_ms);

void halt(Ledger& ledger, const std::string& reason, const std::string& by, uint64_t now_ms);
// Lifts the halt and forgives the failures before now. A halt that came
// before the soak ended restarts the soak now, or reopens the canary stage
// when a canary had failed.
void resume(Ledger& ledger, uint64_t now_ms);

// How many nodes may deploy at once now (max_parallel, or its percentage of
// the nodes enrolled; at least 1).
uint32_t slot_limit(const Ledger& ledger);

// Nobody waits or deploys, the canary stage and its soak are over, and no
// halt: a node that switched has nothing left to watch for.
bool complete(const Ledger& ledger, uint64_t now_ms);

// "canary", "soaking", "rolling", "held" (nobody deploys, but nodes held
// back by an earlier halt have not deployed it yet), "done", "halted": for
// `haul rollout status`.
std::string progress(const Ledger& ledger, uint64_t now_ms);

// How long the canary soak still runs (0 outside it).
uint64_t soak_left_ms(const Ledger& ledger, uint64_t now_ms);

const char* state_name(NodeState s);

// s as one segment of a KV key: [A-Za-z0-9._-] kept, everything else '_',
// never "." or "..", never empty.
std::string key_segment(const std::string& s);

uint64_t now_ms();

}  // namespace haul::rollout
