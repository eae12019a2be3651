// `haul status [--pipeline P] [--json]`: the fleet as the agents reported it
// (exit 0: every node succeeded, is alive and on the newest release; 1: a
// node needs attention; 2: status itself failed)
// to Consul KV (hook consul-status) — per node: release, result, age, error,
// whether its heartbeat is alive, and whether it is on its pipeline's newest
// release (the release of the most recent successful deploy in the fleet).
// With desired-release pointers (--desired URL, or the `desired:` of each
// pipeline in --config FILE) it also says whether each node is on the desired
// release, and for how long it has been behind: since the pointer was written.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <functional>
#include <chrono>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <map>
#include <set>

#include "net/consul_api.hpp"
#include "net/etcd_api.hpp"
#include "pipeline/pipeline.hpp"
#include "publish/kicker.hpp"
#include "cli/cli_common.hpp"
#include "cli/rollout_report.hpp"
#include "config/desired_pointer.hpp"
#include "deploy/deploy_engine.hpp"
#include "deploy/deploy_log.hpp"
#include "util/error.hpp"
#include "util/units.hpp"

namespace po = boost::program_options;

namespace haul {
namespace {

// Every key under a prefix with its value: from Consul KV or from etcd,
// where the consul-status and etcd-status hooks write the same documents.
using KvList = std::function<std::vector<std::pair<std::string, std::string>>(const std::string& prefix)>;

KvList consul_kv(const net::ConsulApi& api) {
  return [&api](const std::string& prefix) {
    std::vector<std::pair<std::string, std::string>> out;
    auto r = api.call("GET", "/v1/kv/" + prefix + "?recurse");
    if (r.status == 404) return out;
    if (r.status == 403)
      throw Error("Consul refused to read " + prefix + " (HTTP 403): the token needs key:read on it — " + r.body);
    if (r.status != 200)
      throw Error("GET " + api.settings().address + "/v1/kv/" + prefix + ": HTTP " + std::to_string(r.status) + " " + r.body);
    for (const auto& kv : nlohmann::json::parse(r.body))
      out.emplace_back(kv["Key"].get<std::string>(),
                       kv["Value"].is_string() ? net::base64_decode(kv["Value"].get<std::string>()) : "");
    return out;
  };
}

KvList etcd_kv(net::EtcdApi& api) {
  return [&api](const std::string& prefix) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& kv : api.range(prefix, true)) out.emplace_back(kv.key, kv.value);
    return out;
  };
}

std::string age(uint64_t finished_ms) {
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch()).count();
  if (!finished_ms || static_cast<uint64_t>(now) < finished_ms) return "-";
  auto secs = (static_cast<uint64_t>(now) - finished_ms) / 1000;
  return format_duration(std::chrono::milliseconds(secs * 1000)) + " ago";
}

// Pipeline name ("" = every pipeline) → its desired pointer, read through the
// source plugins; a pointer that cannot be read is reported, not fatal.
std::map<std::string, DesiredPointer> read_desired(const po::variables_map& vm) {
  std::map<std::string, std::string> urls;
  HaulConfig config = vm.count("config") ? load_config_file(vm["config"].as<std::string>()) : default_config(DeployOptions{});
  if (vm.count("config"))
    for (const auto& p : config.pipelines)
      if (!p.desired.empty()) urls[p.name] = p.desired;
  if (vm.count("desired")) urls[vm.count("pipeline") ? vm["pipeline"].as<std::string>() : ""] = vm["desired"].as<std::string>();
  std::map<std::string, DesiredPointer> out;
  if (urls.empty()) return out;
  auto registry = load_registry(config.plugin_path);
  auto pipeline = build_pipeline(config.pipelines.front(), registry, config.origin, false);
  StopSignal stop;
  DeployLog log("status");
  for (const auto& [name, url] : urls) {
    try {
      out[name] = parse_desired_pointer(fetch_text(pipeline->sources, url, fetch_policy_for(pipeline->deploy), stop, log), url);
    } catch (const std::exception& e) {
      std::cerr << "haul status: cannot read the desired release of " << (name.empty() ? "the fleet" : name) << ": "
                << e.what() << "\n";
    }
  }
  return out;
}

// Each pipeline of --config with a rollout: block: its newest rollout, as
// its gate sees it (pipeline name -> the gate's answer). A gate that cannot
// answer is reported, not fatal.
std::map<std::string, nlohmann::json> read_rollouts(const po::variables_map& vm) {
  std::map<std::string, nlohmann::json> out;
  if (!vm.count("config")) return out;
  HaulConfig config = load_config_file(vm["config"].as<std::string>());
  auto registry = load_registry(config.plugin_path);
  for (const auto& p : config.pipelines) {
    if (!p.rollout.enabled || (vm.count("pipeline") && p.name != vm["pipeline"].as<std::string>())) continue;
    try {
      auto pipeline = build_pipeline(p, registry, config.origin, false);
      auto answer = nlohmann::json::parse(pipeline->gate->control("status", p.name, "", ""));
      auto& all = answer["rollouts"];
      if (all.size() > 1) all.erase(all.begin() + 1, all.end());  // the newest is what an operator asks about
      out[p.name] = answer;
    } catch (const std::exception& e) {
      std::cerr << "haul status: cannot read the rollouts of pipeline " << p.name << ": " << e.what() << "\n";
    }
  }
  return out;
}

}  // namespace

int run_status(const Args& args) {
  po::options_description desc("haul status [--pipeline P] [--json]");
  desc.add_options()
      ("consul", po::value<std::string>(), "Consul HTTP address (default: CONSUL_HTTP_ADDR, then 127.0.0.1:8500)")
      ("etcd", po::value<std::string>(), "read the fleet from etcd instead (client URLs, comma-separated), where the "
       "etcd-status hook writes it")
      ("token", po::value<std::string>(), "ACL token with key:read (default: CONSUL_HTTP_TOKEN)")
      ("prefix", po::value<std::string>()->default_value("haul"), "KV prefix the consul-status hook writes under")
      ("pipeline", po::value<std::string>(), "only this pipeline")
      ("desired", po::value<std::string>(), "a desired-release pointer (latest_<role>_<stage>.yml) to compare nodes with")
      ("config", po::value<std::string>(), "the agent's config: its Consul connection (consul: block, else a consul-http "
       "trigger's), each pipeline's desired: pointer to compare with, and its rollout's progress (rollout: block)")
      ("json", "print JSON for scripts instead of a table");
  desc.add(common_options());
  try {
    auto vm = parse_args(args, desc);
    if (vm.count("help")) {
      std::cout << desc << "\n";
      return 0;
    }
    net::ConsulSettings s;
    if (vm.count("config")) {  // the agent's own Consul connection; flags win
      s = consul_settings_of(consul_connection_of(load_config_file(vm["config"].as<std::string>())));
    }
    if (vm.count("consul")) s.address = vm["consul"].as<std::string>();
    if (vm.count("token")) s.token = vm["token"].as<std::string>();
    net::ConsulApi api(net::consul_settings_from_env(s));
    std::unique_ptr<net::EtcdApi> etcd;
    if (vm.count("etcd")) {
      const std::string list = net::etcd_endpoint_lines(vm["etcd"].as<std::string>());
      const haul_kv field{"endpoints", list.c_str()};
      etcd = std::make_unique<net::EtcdApi>(net::etcd_settings_from_config(sdk::Config(&field, 1)));
    }
    const KvList kv_list = etcd ? etcd_kv(*etcd) : consul_kv(api);
    const std::string where = etcd ? "etcd at " + etcd->endpoint() : "Consul at " + api.settings().address;
    const std::string prefix = vm["prefix"].as<std::string>();
    std::set<std::string> alive;
    for (const auto& [key, value] : kv_list(prefix + "/heartbeat/")) alive.insert(key.substr(prefix.size() + 11));
    std::vector<nlohmann::json> rows;
    std::set<std::string> pipelines_seen;
    for (const auto& [key, value] : kv_list(prefix + "/status/")) {
      auto row = nlohmann::json::parse(value, nullptr, false);
      if (row.is_discarded() || !row.is_object()) continue;
      pipelines_seen.insert(row.value("pipeline", ""));
      if (vm.count("pipeline") && row.value("pipeline", "") != vm["pipeline"].as<std::string>()) continue;
      row["alive"] = alive.count(row.value("node", "")) > 0;
      rows.push_back(row);
    }
    if (vm.count("pipeline") && rows.empty() && !pipelines_seen.empty()) {
      std::string names;
      for (const auto& n : pipelines_seen) names += (names.empty() ? "" : ", ") + n;
      throw Error("no node reported pipeline '" + vm["pipeline"].as<std::string>() + "' to " + where + "; pipelines reporting: " +
                  names);
    }
    std::map<std::string, std::pair<uint64_t, std::string>> newest;  // pipeline -> (finished, release)
    for (const auto& r : rows) {
      if (r.value("result", "") != "success") continue;
      auto& n = newest[r.value("pipeline", "")];
      uint64_t f = r.value("finished_at_unix_ms", uint64_t{0});
      if (f >= n.first) n = {f, r.value("release", "")};
    }
    for (auto& r : rows) r["on_newest_release"] = r.value("release", "") == newest[r.value("pipeline", "")].second;
    const auto desired = read_desired(vm);
    const int64_t now_s = static_cast<int64_t>(std::time(nullptr));
    for (auto& r : rows) {
      auto it = desired.find(r.value("pipeline", ""));
      if (it == desired.end()) it = desired.find("");
      if (it == desired.end()) continue;
      const bool on = r.value("release", "") == it->second.release && r.value("result", "") == "success";
      r["desired_release"] = it->second.release;
      r["on_desired_release"] = on;
      r["behind_seconds"] = on ? 0 : std::max<int64_t>(0, now_s - it->second.created_at);
    }
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
      return std::make_pair(a.value("pipeline", ""), a.value("node", "")) < std::make_pair(b.value("pipeline", ""), b.value("node", ""));
    });
    // Exit 1 when the fleet needs attention: a node failed, is down, or is
    // not on its pipeline's newest (or the desired) release.
    auto healthy = [](const nlohmann::json& r) {
      return r.value("result", "") == "success" && r.value("alive", false) && r.value("on_newest_release", false) &&
             r.value("on_desired_release", true);
    };
    bool attention = !std::all_of(rows.begin(), rows.end(), healthy);
    const auto rollouts = read_rollouts(vm);
    for (const auto& [name, answer] : rollouts)
      for (const auto& r : answer["rollouts"]) attention = attention || !r["halted"].is_null();
    if (vm.count("json")) {
      // Nodes as a list (as before); rollouts, when asked for with --config,
      // in an object beside them.
      if (rollouts.empty()) std::cout << nlohmann::json(rows).dump(2) << "\n";
      else std::cout << nlohmann::json{{"nodes", rows}, {"rollouts", rollouts}}.dump(2) << "\n";
      return attention ? 1 : 0;
    }
    for (const auto& [name, answer] : rollouts) print_rollouts(std::cout, name, answer, false);
    if (!rollouts.empty()) std::cout << "\n";
    if (rows.empty()) {
      std::cout << "no status under " << prefix << "/status/ in " << where
                << " (do the agents' pipelines use the " << (etcd ? "etcd-status" : "consul-status") << " hook?)\n";
      return attention ? 1 : 0;
    }
    std::cout << std::left << std::setw(12) << "PIPELINE" << std::setw(18) << "NODE" << std::setw(6) << "ALIVE"
              << std::setw(9) << "RESULT" << std::setw(14) << "AGE" << "RELEASE / ERROR\n";
    int behind = 0, off_desired = 0;
    for (const auto& r : rows) {
      bool on_newest = r["on_newest_release"].get<bool>();
      behind += on_newest ? 0 : 1;
      std::string release = r.value("release", "");
      std::cout << std::setw(12) << r.value("pipeline", "") << std::setw(18) << r.value("node", "")
                << std::setw(6) << (r["alive"].get<bool>() ? "yes" : "NO") << std::setw(9) << r.value("result", "")
                << std::setw(14) << age(r.value("finished_at_unix_ms", uint64_t{0}))
                << (on_newest ? "  " : "! ") << release;
      if (!r.value("error", "").empty()) std::cout << "  (" << r.value("error", "") << ")";
      if (r.contains("on_desired_release") && !r["on_desired_release"].get<bool>()) {
        ++off_desired;
        std::cout << "  [behind desired " << r.value("desired_release", "") << " for "
                  << format_duration(std::chrono::seconds(r.value("behind_seconds", int64_t{0}))) << "]";
      }
      std::cout << "\n";
    }
    if (behind) std::cout << "\n! " << behind << " node(s) not on their pipeline's newest release\n";
    if (off_desired) std::cout << "! " << off_desired << " node(s) not on the desired release\n";
    return attention ? 1 : 0;
  } catch (const std::exception& e) {
    std::cerr << "haul status: " << e.what() << "\n";
    return 2;
  }
}

}  // namespace haul
