// SPDX-License-Identifier: Apache-2.0
// `haul status`: the fleet as the agents report it through the consul-status
// and etcd-status hooks (fleet/fleet_view.hpp) — per node and pipeline, the
// release it runs, its last attempt and outcome, whether its agent lives,
// and whether it is on its pipeline's newest (and, with a desired-release
// pointer, the desired) release. With --config, only that config's
// pipelines, read from where its status hook writes, and each pipeline's
// newest rollout above. `--forget NODE` removes a decommissioned node.
// Exit 0: nothing needs attention; 1: a node does (gone nodes do not);
// 2: status itself failed.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <set>

#include "cli/cli_common.hpp"
#include "cli/rollout_report.hpp"
#include "config/desired_pointer.hpp"
#include "deploy/deploy_engine.hpp"
#include "util/deploy_log.hpp"
#include "fleet/fleet_store.hpp"
#include "fleet/fleet_view.hpp"
#include "pipeline/pipeline.hpp"
#include "publish/kicker.hpp"
#include "util/error.hpp"
#include "util/units.hpp"

namespace po = boost::program_options;

namespace haul {
namespace {

using fleet::PipelineKey;

std::string elapsed(uint64_t at_ms, uint64_t now_ms) {
  if (!at_ms) return "";
  if (now_ms < at_ms + 1000) return "<1s";
  return format_duration(std::chrono::seconds((now_ms - at_ms) / 1000));
}
std::string ago(uint64_t at_ms, uint64_t now_ms) {
  const std::string e = elapsed(at_ms, now_ms);
  return e.empty() ? "-" : e + " ago";
}

std::string flag(const po::variables_map& vm, const char* name) {
  return vm.count(name) ? vm[name].as<std::string>() : "";
}

std::chrono::milliseconds duration_flag(const po::variables_map& vm, const char* name, const char* fallback) {
  const std::string text = vm.count(name) ? vm[name].as<std::string>() : fallback;
  const auto d = parse_duration(text);
  if (!d) throw UsageError(std::string("--") + name + ": expected a duration like 10s or 24h, got '" + text + "'");
  return *d;
}

// What --config brings: its pipelines built (sources for desired pointers,
// gates for rollouts, status hooks for where the fleet lives).
struct ConfigPipelines {
  HaulConfig config;
  std::vector<std::unique_ptr<Pipeline>> built;  // those --pipeline selects
};

ConfigPipelines load_pipelines(const po::variables_map& vm) {
  ConfigPipelines c;
  c.config = load_checked_config(flag(vm, "config"));
  const auto registry = load_registry(c.config.plugin_path);
  std::string names;
  for (const auto& p : c.config.pipelines) {
    names += (names.empty() ? "" : ", ") + p.name;
    if (vm.count("pipeline") && p.name != flag(vm, "pipeline")) continue;
    c.built.push_back(build_pipeline(p, registry, c.config.origin, false));
  }
  if (c.built.empty())
    throw UsageError(c.config.origin + ": no pipeline named '" + flag(vm, "pipeline") + "'; the file has: " + names);
  return c;
}

const PipelineConfig& config_of(const ConfigPipelines& c, const Pipeline& p) {
  return *std::find_if(c.config.pipelines.begin(), c.config.pipelines.end(), [&](const auto& pc) { return pc.name == p.name; });
}

// The engine and prefix the status lives under: the config's status hook's
// own settings (its connection completed from the consul:/etcd: blocks as
// the agent completes it), else its etcd: block when it has no Consul, else
// Consul; flags win.
struct Where {
  std::unique_ptr<fleet::FleetStore> store;
  std::string prefix = "haul";
};

Where where_status_lives(const po::variables_map& vm, const ConfigPipelines* c) {
  const auto timeout = duration_flag(vm, "timeout", "10s");
  std::string engine = vm.count("etcd") ? "etcd" : "";
  std::map<std::string, std::string> fields;
  Where w;
  if (c) {
    for (const auto& p : c->built)
      for (const auto& h : p->hooks)
        if (engine.empty() && (h->plugin().name() == "consul-status" || h->plugin().name() == "etcd-status")) {
          engine = h->plugin().name() == "etcd-status" ? "etcd" : "consul";
          for (const auto& [k, v] : h->settings()) fields[k] = v;
        }
    if (engine.empty()) {
      const bool has_consul = !consul_connection_of(c->config).empty();
      engine = c->config.etcd.IsMap() && !has_consul ? "etcd" : "consul";
      if (engine == "consul") fields = consul_connection_of(c->config);
      else fields = etcd_connection_of(c->config);
    }
  }
  if (engine.empty()) engine = "consul";
  if (fields.count("prefix")) w.prefix = fields["prefix"];
  if (vm.count("prefix")) w.prefix = flag(vm, "prefix");
  while (!w.prefix.empty() && w.prefix.back() == '/') w.prefix.pop_back();
  auto settings = [&] {
    std::vector<haul_kv> kv;
    for (const auto& [k, v] : fields) kv.push_back({k.c_str(), v.c_str()});
    return kv;
  };
  if (engine == "etcd") {
    if (vm.count("etcd")) fields["endpoints"] = net::etcd_endpoint_lines(flag(vm, "etcd"));
    add_etcd_auth_flags(vm, fields);
    const auto kv = settings();
    net::EtcdSettings s = net::etcd_settings_from_config(sdk::Config(kv.data(), kv.size()));
    s.request_timeout = timeout;
    w.store = fleet::etcd_fleet_store(s);
  } else {
    const auto kv = settings();
    net::ConsulSettings s = net::consul_settings_from_config(sdk::Config(kv.data(), kv.size()));
    if (vm.count("consul")) s.address = flag(vm, "consul");
    if (vm.count("token")) s.token = flag(vm, "token");
    w.store = fleet::consul_fleet_store(net::consul_settings_from_env(s), timeout);
  }
  return w;
}

// Each pipeline's desired-release pointer, read through its own sources; a
// pointer that cannot be read is reported, not fatal.
std::map<PipelineKey, DesiredPointer> read_desired(const po::variables_map& vm, const ConfigPipelines* c,
                                                   const std::optional<PipelineKey>& single) {
  std::map<PipelineKey, std::pair<const Pipeline*, std::string>> urls;
  std::unique_ptr<Pipeline> fallback;
  if (c)
    for (const auto& p : c->built)
      if (!p->desired.empty()) urls[{status_namespace_of(config_of(*c, *p)), p->name}] = {p.get(), p->desired};
  if (vm.count("desired")) {
    if (!single)
      throw UsageError("--desired compares the nodes of one pipeline: add --pipeline NAME (and --namespace NS when "
                       "two applications share the name)");
    const Pipeline* via = c && !c->built.empty() ? c->built.front().get() : nullptr;
    if (!via) {
      const auto registry = load_registry();
      fallback = build_pipeline(default_config(DeployOptions{}).pipelines.front(), registry, "(built-in default)", false);
      via = fallback.get();
    }
    urls[*single] = {via, flag(vm, "desired")};
  }
  std::map<PipelineKey, DesiredPointer> out;
  StopSignal stop;
  DeployLog log("status");
  for (const auto& [key, source] : urls) {
    try {
      out[key] = parse_desired_pointer(
          fetch_text(source.first->sources, source.second, fetch_policy_for(source.first->deploy), stop, log), source.second);
    } catch (const std::exception& e) {
      std::cerr << "haul status: cannot read the desired release of pipeline " << key.second << ": " << e.what() << "\n";
    }
  }
  return out;
}

// Each selected pipeline with a rollout: block: its newest rollout.
std::map<std::string, nlohmann::json> read_rollouts(const ConfigPipelines* c) {
  std::map<std::string, nlohmann::json> out;
  if (!c) return out;
  for (const auto& p : c->built) {
    if (!p->gate) continue;
    try {
      auto answer = nlohmann::json::parse(p->gate->control("status", p->name, "", ""));
      auto& all = answer["rollouts"];
      if (all.size() > 1) all.erase(all.begin() + 1, all.end());  // the newest is what an operator asks about
      out[p->name] = answer;
    } catch (const std::exception& e) {
      std::cerr << "haul status: cannot read the rollouts of pipeline " << p->name << ": " << e.what() << "\n";
    }
  }
  return out;
}

void print_table(const std::vector<nlohmann::json>& rows, uint64_t now, const fleet::FleetFilter& filter) {
  size_t label_width = 20, node_width = 6;
  for (const auto& r : rows) {
    label_width = std::max(label_width, fleet::pipeline_label(r).size() + 2);
    node_width = std::max(node_width, r.value("node", "").size() + 2);
  }
  std::cout << std::left << std::setw(static_cast<int>(label_width)) << "NAMESPACE/PIPELINE"
            << std::setw(static_cast<int>(node_width))
            << "NODE" << std::setw(7) << "ALIVE" << "RUNNING                     LAST ATTEMPT\n";
  int behind = 0, off_desired = 0, gone = 0;
  std::string newest;
  for (const auto& r : rows) {
    const bool on_newest = r.value("on_newest_release", true);
    const std::string alive = r.value("gone", false) ? "gone"
                              : r["alive"].is_null()  ? "-"
                              : r["alive"].get<bool>() ? "yes"
                                                       : "NO";
    std::string running = r.value("running_release", "");
    running = running.empty() ? "?" : running;
    if (const std::string e = elapsed(r.value("running_since_unix_ms", uint64_t{0}), now); !e.empty())
      running += " (for " + e + ")";
    std::cout << std::setw(static_cast<int>(label_width)) << fleet::pipeline_label(r)
              << std::setw(static_cast<int>(node_width)) << r.value("node", "") << std::setw(7) << alive
              << (on_newest ? "  " : "! ") << std::setw(26) << running << r.value("result", "") << " "
              << r.value("release", "") << ", " << ago(r.value("finished_at_unix_ms", uint64_t{0}), now);
    if (!r.value("error", "").empty()) std::cout << ": " << r.value("error", "");
    if (r.value("gone", false)) {
      ++gone;
      std::cout << "  [not seen for " << elapsed(r.value("seen_at_unix_ms", uint64_t{0}), now) << "]";
    }
    if (r.contains("on_desired_release") && !r["on_desired_release"].get<bool>()) {
      ++off_desired;
      std::cout << "  [behind desired " << r.value("desired_release", "") << " for "
                << format_duration(std::chrono::seconds(r.value("behind_seconds", int64_t{0}))) << "]";
    }
    std::cout << "\n";
    if (!on_newest && !r.value("gone", false)) ++behind;
  }
  if (behind) std::cout << "\n! " << behind << " node(s) not running their pipeline's newest release\n";
  if (off_desired) std::cout << "! " << off_desired << " node(s) not on the desired release\n";
  if (gone)
    std::cout << gone << " node(s) gone: no heartbeat, not seen for more than " << format_duration(filter.gone_after)
              << " (not counted in the exit code; haul status --forget NODE removes one)\n";
}

int forget(const po::variables_map& vm, fleet::FleetStore& store, const std::string& prefix, const fleet::FleetFilter& filter) {
  const std::string node = flag(vm, "forget");
  const auto gone = fleet::forget_node(store, prefix, node, filter, vm.count("force") > 0);
  std::cout << "forgot node " << node << " in " << store.where() << ":";
  for (const auto& key : gone.keys) std::cout << "\n  removed " << key;
  std::cout << "\n";
  return 0;
}

}  // namespace

int run_status(const Args& args) {
  po::options_description desc("haul status [--config FILE | --consul ADDR | --etcd URL,...] [--pipeline P] [--json]");
  desc.add_options()
      ("config", po::value<std::string>(), "the agents' config: only its pipelines (each in its namespace), read from "
       "where its status hook writes (consul-status or etcd-status, else its consul: or etcd: block); each pipeline's "
       "desired: pointer to compare with, and its newest rollout (rollout: block)")
      ("consul", po::value<std::string>(), "Consul HTTP address (default: the config's, else CONSUL_HTTP_ADDR, then "
       "127.0.0.1:8500)")
      ("token", po::value<std::string>(), "Consul ACL token with key:read (default: CONSUL_HTTP_TOKEN)")
      ("etcd", po::value<std::string>(), "read the fleet from etcd instead (client URLs, comma-separated), where the "
       "etcd-status hook writes it")
      ("etcd-user", po::value<std::string>(), "etcd user for password auth, as USER or USER:PASSWORD (default: ETCDCTL_USER)")
      ("etcd-password", po::value<std::string>(), "its password (default: ETCDCTL_PASSWORD, ETCD_PASSWORD)")
      ("prefix", po::value<std::string>(), "KV prefix the status hooks write under (default: the config's, else haul)")
      ("namespace", po::value<std::string>(), "only this namespace (an application or cluster; see namespace: in the config)")
      ("pipeline", po::value<std::string>(), "only this pipeline")
      ("desired", po::value<std::string>(), "a desired-release pointer (latest_<role>_<stage>.yml) to compare the "
       "nodes of --pipeline with")
      ("gone-after", po::value<std::string>(), "a node whose agent has been dead this long is gone: shown, not counted "
       "in the exit code (default 24h; 0 = never)")
      ("timeout", po::value<std::string>(), "give up on a Consul or etcd request after this long (default 10s)")
      ("forget", po::value<std::string>(), "remove NODE's status (of --namespace/--pipeline when given): a "
       "decommissioned node; refused while its agent is alive, unless --force")
      ("force", "with --forget: remove the status of a node whose agent is alive")
      ("json", "print JSON for scripts instead of a table");
  desc.add(common_options());
  return run_command(args, desc, {}, [&](const po::variables_map& vm) {
    if (vm.count("etcd") && (vm.count("consul") || vm.count("token")))
      throw UsageError("--etcd reads the fleet from etcd; --consul and --token are for Consul: give one or the other");
    std::optional<ConfigPipelines> config;
    if (vm.count("config")) config = load_pipelines(vm);
    Where where = where_status_lives(vm, config ? &*config : nullptr);
    fleet::FleetFilter filter;
    if (vm.count("namespace")) filter.ns = flag(vm, "namespace");
    if (vm.count("pipeline")) filter.pipeline = flag(vm, "pipeline");
    filter.gone_after = duration_flag(vm, "gone-after", "24h");
    if (config)
      for (const auto& p : config->built) filter.only.insert({status_namespace_of(config_of(*config, *p)), p->name});
    if (vm.count("forget")) return forget(vm, *where.store, where.prefix, filter);

    const uint64_t now = unix_ms_now();
    fleet::FleetView view = fleet::read_fleet(*where.store, where.prefix, filter, now);
    if (view.nodes.empty() && (filter.pipeline || filter.ns) && !view.reporting.empty()) {
      std::string names;
      for (const auto& [ns, p] : view.reporting) names += (names.empty() ? "" : ", ") + (ns.empty() ? "" : ns + "/") + p;
      throw UsageError(std::string("no node reported ") +
                       (filter.pipeline ? "pipeline '" + *filter.pipeline + "'" : "namespace '" + *filter.ns + "'") +
                       (filter.pipeline && filter.ns ? " in namespace '" + *filter.ns + "'" : "") + " to " +
                       where.store->where() + "; pipelines reporting: " + names);
    }
    std::set<PipelineKey> shown;
    for (const auto& r : view.nodes) shown.insert(fleet::pipeline_of(r));
    std::optional<PipelineKey> single;
    if (shown.size() == 1) single = *shown.begin();
    else if (shown.empty() && config && config->built.size() == 1) single = *filter.only.begin();
    const auto desired = read_desired(vm, config ? &*config : nullptr, single);
    const int64_t now_s = static_cast<int64_t>(std::time(nullptr));
    for (auto& r : view.nodes) {
      auto it = desired.find(fleet::pipeline_of(r));
      if (it == desired.end()) continue;
      const bool on = r.value("running_release", "") == it->second.release;
      r["desired_release"] = it->second.release;
      r["on_desired_release"] = on;
      r["behind_seconds"] = on ? 0 : std::max<int64_t>(0, now_s - it->second.created_at);
    }
    bool attention = std::any_of(view.nodes.begin(), view.nodes.end(), fleet::needs_attention);
    const auto rollouts = read_rollouts(config ? &*config : nullptr);
    for (const auto& [name, answer] : rollouts)
      for (const auto& r : answer["rollouts"]) attention = attention || !r["halted"].is_null();
    if (vm.count("json")) {
      if (rollouts.empty()) std::cout << nlohmann::json(view.nodes).dump(2) << "\n";
      else std::cout << nlohmann::json{{"nodes", view.nodes}, {"rollouts", rollouts}}.dump(2) << "\n";
      return attention ? 1 : 0;
    }
    const std::string hint =
        config ? " --config " + shell_quoted(std::filesystem::absolute(flag(vm, "config")).lexically_normal().string()) : "";
    for (const auto& [name, answer] : rollouts) print_rollouts(std::cout, name, answer, false, hint);
    if (!rollouts.empty()) std::cout << "\n";
    std::string silent;
    for (const auto& n : view.silent) silent += (silent.empty() ? "" : ", ") + n;
    if (view.nodes.empty()) {
      if (silent.empty())
        std::cout << "no status under " << where.prefix << "/status/ in " << where.store->where()
                  << " (do the agents' pipelines use the " << where.store->status_hook() << " hook?)\n";
      else
        std::cout << "no node has reported a deploy yet under " << where.prefix << "/status/ in " << where.store->where()
                  << "; alive: " << silent << "\n";
      return attention ? 1 : 0;
    }
    print_table(view.nodes, now, filter);
    if (!silent.empty()) std::cout << "alive, no deploy reported yet: " << silent << "\n";
    return attention ? 1 : 0;
  }, "haul status: ", /*failed_code=*/2);
}

}  // namespace haul
