// SPDX-License-Identifier: Apache-2.0
// The fleet as its status documents tell it (plugins/common/deploy_status.hpp):
// one row per node and pipeline, saying what the node runs and, beside it,
// its last attempt and outcome; whether its agent is alive (heartbeat), or
// gone (not seen for longer than gone_after: a decommissioned node stops
// failing `haul status` and is shown as such); and whether it runs its
// pipeline's newest release — the newest release a node deployed and still
// runs, so a halted or rolled-back release is not "newest". Pipelines are
// compared within their namespace only.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "fleet/fleet_store.hpp"

namespace haul::fleet {

// (namespace, pipeline)
using PipelineKey = std::pair<std::string, std::string>;

struct FleetFilter {
  std::optional<std::string> ns;        // --namespace
  std::optional<std::string> pipeline;  // --pipeline
  std::set<PipelineKey> only;           // --config: its pipelines; empty = every one
  std::chrono::milliseconds gone_after{std::chrono::hours(24)};  // 0: never gone
};

struct FleetView {
  // One JSON object a row: the status document's fields, plus "alive"
  // (true, false, or null when the node keeps no heartbeat), "gone",
  // "seen_at_unix_ms", "newest_release", "on_newest_release".
  std::vector<nlohmann::json> nodes;
  std::set<PipelineKey> reporting;  // every pipeline some document reports, before filtering
  // Nodes whose agent is alive but which have reported no deploy yet (no
  // status document at all): not in any pipeline's rows.
  std::vector<std::string> silent;
};

FleetView read_fleet(FleetStore& store, const std::string& prefix, const FleetFilter& filter, uint64_t now_ms);

// A node that needs an operator: not gone, and its last attempt failed, its
// agent is dead, or it is not on its pipeline's newest (or desired) release.
bool needs_attention(const nlohmann::json& row);

PipelineKey pipeline_of(const nlohmann::json& row);

// "shop/web"; "-/web" for a document from before namespaces.
std::string pipeline_label(const nlohmann::json& row);

// What `haul status --forget NODE` removed: keys, for the message.
struct Forgotten {
  std::vector<std::string> keys;
};
// Removes a node's status documents (of ns/pipeline when set) and its
// seen-record. Refuses (haul::Error) a node whose agent is alive unless
// force, and a node no document names (listing the nodes that are known).
Forgotten forget_node(FleetStore& store, const std::string& prefix, const std::string& node, const FleetFilter& filter,
                      bool force);

}  // namespace haul::fleet
