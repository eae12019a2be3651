// SPDX-License-Identifier: Apache-2.0
#include "fleet/fleet_view.hpp"

#include <algorithm>
#include <map>

#include "util/error.hpp"

namespace haul::fleet {
namespace {

using nlohmann::json;

// Documents come from a shared store anyone with write access may fill:
// every field is read for its type, never trusted to have it.
std::string text(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

uint64_t number(const json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end()) return 0;
  if (it->is_number_unsigned()) return it->get<uint64_t>();
  if (it->is_number_integer() && it->get<int64_t>() > 0) return static_cast<uint64_t>(it->get<int64_t>());
  return 0;
}

// key = <prefix>/<folder>/<rest>: the rest, split at '/'.
std::vector<std::string> segments_after(const std::string& key, const std::string& folder) {
  std::vector<std::string> out;
  if (key.rfind(folder, 0) != 0) return out;
  size_t pos = folder.size();
  while (pos <= key.size()) {
    const size_t slash = key.find('/', pos);
    out.push_back(key.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos));
    if (slash == std::string::npos) break;
    pos = slash + 1;
  }
  return out;
}

// A status document as a row: the fields haul status shows, each of its
// type. Keys: status/<ns>/<pipeline>/<node>, or a document from before
// namespaces at status/<pipeline>/<node> (namespace "").
std::optional<json> row_of(const std::string& key, const std::string& value, const std::string& folder) {
  const auto parts = segments_after(key, folder);
  if (parts.size() != 2 && parts.size() != 3) return std::nullopt;
  const json doc = json::parse(value, nullptr, false);
  if (!doc.is_object()) return std::nullopt;
  json row = json::object();
  row["namespace"] = parts.size() == 3 ? parts[0] : "";
  row["node"] = parts.back();  // the key is where the node wrote: its name
  const std::string pipeline = text(doc, "pipeline");
  row["pipeline"] = pipeline.empty() ? parts[parts.size() - 2] : pipeline;
  const bool v2 = number(doc, "schema") >= 2;
  for (const char* f : {"release", "result", "error", "event_id", "manifest_url", "log_tail"}) row[f] = text(doc, f);
  for (const char* f : {"started_at_unix_ms", "finished_at_unix_ms", "duration_ms", "running_since_unix_ms"})
    row[f] = number(doc, f);
  // Before schema 2 a document held the last attempt only: what runs is
  // known when that attempt succeeded.
  row["running_release"] = v2 ? text(doc, "running_release") : (text(doc, "result") == "success" ? text(doc, "release") : "");
  if (!v2) row["running_since_unix_ms"] = text(doc, "result") == "success" ? number(doc, "finished_at_unix_ms") : 0;
  const auto hb = doc.find("heartbeat");
  row["heartbeat"] = !(hb != doc.end() && hb->is_boolean() && !hb->get<bool>());
  return row;
}

}  // namespace

FleetView read_fleet(FleetStore& store, const std::string& prefix, const FleetFilter& filter, uint64_t now_ms) {
  FleetView view;
  const std::string status_folder = prefix + "/status/", beat_folder = prefix + "/heartbeat/", seen_folder = prefix + "/seen/";
  std::set<std::string> alive;
  for (const auto& [key, value] : store.list(beat_folder)) alive.insert(key.substr(beat_folder.size()));
  // node -> (last seen, when it might still have been alive: its next
  // refresh was due by then)
  std::map<std::string, std::pair<uint64_t, uint64_t>> seen;
  for (const auto& [key, value] : store.list(seen_folder)) {
    const json j = json::parse(value, nullptr, false);
    if (j.is_object())
      seen[key.substr(seen_folder.size())] = {number(j, "seen_at_unix_ms"),
                                              number(j, "seen_at_unix_ms") + number(j, "next_within_ms")};
  }
  std::set<std::string> reported;
  for (const auto& [key, value] : store.list(status_folder)) {
    auto row = row_of(key, value, status_folder);
    if (!row) continue;
    reported.insert((*row)["node"].get<std::string>());
    const PipelineKey pk = pipeline_of(*row);
    view.reporting.insert(pk);
    if (filter.ns && pk.first != *filter.ns) continue;
    if (filter.pipeline && pk.second != *filter.pipeline) continue;
    if (!filter.only.empty() && !filter.only.count(pk)) continue;
    const std::string node = (*row)["node"];
    const bool is_alive = alive.count(node) > 0;
    (*row)["alive"] = is_alive ? json(true) : (*row)["heartbeat"].get<bool>() ? json(false) : json();
    const uint64_t finished = (*row)["finished_at_unix_ms"];
    const uint64_t last_seen = std::max({seen[node].first, finished, is_alive ? now_ms : 0});
    const uint64_t maybe_alive_until = std::max({seen[node].second, finished, is_alive ? now_ms : 0});
    (*row)["seen_at_unix_ms"] = last_seen;
    // Without a heartbeat (the consul watch handler) a quiet node and a
    // dead one look alike: never gone by itself.
    (*row)["gone"] = (*row)["alive"] == json(false) && filter.gone_after.count() > 0 &&
                     maybe_alive_until + static_cast<uint64_t>(filter.gone_after.count()) < now_ms;
    view.nodes.push_back(std::move(*row));
  }
  for (const auto& node : alive)
    if (!reported.count(node)) view.silent.push_back(node);
  // Per pipeline: the release most recently deployed by a node that still
  // runs it.
  std::map<PipelineKey, std::pair<uint64_t, std::string>> newest;
  for (const auto& r : view.nodes) {
    if (r["result"] != "success" || r["running_release"] != r["release"]) continue;
    auto& n = newest[pipeline_of(r)];
    const uint64_t at = r["finished_at_unix_ms"];
    if (at >= n.first) n = {at, r["release"]};
  }
  for (auto& r : view.nodes) {
    const std::string release = newest[pipeline_of(r)].second;
    r["newest_release"] = release;
    r["on_newest_release"] = release.empty() || r["running_release"] == release;
  }
  std::sort(view.nodes.begin(), view.nodes.end(), [](const json& a, const json& b) {
    return std::tie(a["namespace"].get_ref<const std::string&>(), a["pipeline"].get_ref<const std::string&>(),
                    a["node"].get_ref<const std::string&>()) <
           std::tie(b["namespace"].get_ref<const std::string&>(), b["pipeline"].get_ref<const std::string&>(),
                    b["node"].get_ref<const std::string&>());
  });
  return view;
}

bool needs_attention(const nlohmann::json& r) {
  if (r.value("gone", false)) return false;
  const std::string result = r.value("result", "");
  return (result != "success" && result != "rolled-back") || r.value("alive", json(true)) == json(false) ||
         !r.value("on_newest_release", true) || !r.value("on_desired_release", true);
}

PipelineKey pipeline_of(const nlohmann::json& row) {
  return {row.value("namespace", ""), row.value("pipeline", "")};
}

std::string pipeline_label(const nlohmann::json& row) {
  const std::string ns = row.value("namespace", "");
  return (ns.empty() ? "-" : ns) + "/" + row.value("pipeline", "");
}

Forgotten forget_node(FleetStore& store, const std::string& prefix, const std::string& node, const FleetFilter& filter,
                      bool force) {
  const std::string status_folder = prefix + "/status/";
  Forgotten out;
  std::set<std::string> known;
  for (const auto& [key, value] : store.list(status_folder)) {
    const auto row = row_of(key, value, status_folder);
    if (!row) continue;
    known.insert((*row)["node"].get<std::string>());
    if ((*row)["node"] != node) continue;
    if (filter.ns && (*row)["namespace"] != *filter.ns) continue;
    if (filter.pipeline && (*row)["pipeline"] != *filter.pipeline) continue;
    out.keys.push_back(key);
  }
  if (out.keys.empty()) {
    std::string names;
    for (const auto& n : known) names += (names.empty() ? "" : ", ") + n;
    throw Error("no status of node " + node + (filter.ns ? " in namespace " + *filter.ns : "") +
                (filter.pipeline ? " for pipeline " + *filter.pipeline : "") + " under " + status_folder + " in " +
                store.where() + "; nodes reporting: " + (names.empty() ? "none" : names));
  }
  const std::string heartbeat = prefix + "/heartbeat/" + node;
  const auto beats = store.list(heartbeat);
  const bool alive = std::any_of(beats.begin(), beats.end(), [&](const auto& kv) { return kv.first == heartbeat; });
  if (alive && !force)
    throw Error("node " + node + " is alive: its agent holds " + heartbeat + " in " + store.where() +
                ", and writes its status again at its next deploy of a pipeline it still has. Stop its agent first, or "
                "--force (say, to remove a namespace or pipeline it no longer has)");
  if (!filter.ns && !filter.pipeline) out.keys.push_back(prefix + "/seen/" + node);
  for (const auto& key : out.keys) store.remove(key);
  return out;
}

}  // namespace haul::fleet
