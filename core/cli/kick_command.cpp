// SPDX-License-Identifier: Apache-2.0
// `haul kick`: fire the deploy event(s) for published manifests.
//   haul kick URL --name deploy_web_production
//   haul kick --manifests s3://bucket/app --role web --role worker --stage production
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <iostream>

#include "pipeline/pipeline.hpp"
#include "cli/cli_common.hpp"
#include "transfer/fetcher.hpp"
#include "plugin/registry.hpp"
#include "publish/kicker.hpp"
#include "publish/publisher.hpp"
#include "util/error.hpp"

namespace po = boost::program_options;

namespace haul {

int run_kick(const Args& args) {
  po::options_description desc("haul kick URL --name EVENT | haul kick --manifests PREFIX --role ROLE --stage STAGE");
  desc.add_options()
      ("url", po::value<std::string>(), "the manifest URL to announce (positional)")
      ("name", po::value<std::string>(), "event name for URL (default: from --role/--stage and --event)")
      ("manifests", po::value<std::string>(), "where haul publish put the manifests; with --role and --stage")
      ("role", po::value<std::vector<std::string>>()->composing(), "role to kick (repeatable)")
      ("stage", po::value<std::string>(), "stage to kick")
      ("event", po::value<std::string>()->default_value("deploy_{role}_{stage}"), "event name template")
      ("via", po::value<std::string>()->default_value("consul"),
       "consul (HTTP API), serf (serf event) or etcd (writes the URL to <etcd-prefix>/<event name>)")
      ("etcd-endpoints", po::value<std::string>(), "etcd client URLs, comma-separated (default: ETCDCTL_ENDPOINTS, then "
       "http://127.0.0.1:2379)")
      ("etcd-prefix", po::value<std::string>()->default_value("haul/deploy"), "etcd: the key is <prefix>/<event name>")
      ("etcd-user", po::value<std::string>(), "etcd user for password auth, as USER or USER:PASSWORD (default: ETCDCTL_USER)")
      ("etcd-password", po::value<std::string>(), "its password (default: ETCDCTL_PASSWORD, ETCD_PASSWORD)")
      ("config", po::value<std::string>(), "take the Consul (or etcd) connection from this agent config (consul: or etcd: block)")
      ("consul-addr", po::value<std::string>(), "Consul HTTP address (default: CONSUL_HTTP_ADDR or http://127.0.0.1:8500)")
      ("token", po::value<std::string>(), "Consul ACL token with event:write (default: CONSUL_HTTP_TOKEN)")
      ("datacenter", po::value<std::string>(), "Consul datacenter (default: the agent's)")
      ("ca-file", po::value<std::string>(), "CA bundle for HTTPS to Consul (default: CONSUL_CACERT)")
      ("node", po::value<std::string>(), "only nodes whose name matches this regular expression")
      ("service", po::value<std::string>(), "only nodes running this service")
      ("tag", po::value<std::string>(), "with --service: only instances with this tag")
      ("serf-rpc-addr", po::value<std::string>(), "serf agent RPC address (default: serf's, 127.0.0.1:7373)")
      ("serf-rpc-auth", po::value<std::string>(), "serf RPC auth key")
      ("max-event-bytes", po::value<size_t>()->default_value(512), "refuse events larger than this (Serf's default limit)")
      ("no-check", "fire without checking first that each manifest can be read from here");
  desc.add(common_options());
  return run_command(args, desc, {"url"}, [&](const po::variables_map& vm) {
    auto str = [&](const char* k) { return vm.count(k) ? vm[k].as<std::string>() : std::string(); };
    KickSettings s;
    s.via = str("via");
    if (vm.count("config")) {  // the agents' Consul connection; flags win
      s.consul = consul_settings_of(consul_connection_of(load_checked_config(str("config"))));
    }
    auto flag = [&](const char* k, std::string& field) {
      if (vm.count(k)) field = str(k);
    };
    flag("consul-addr", s.consul.address);
    flag("token", s.consul.token);
    flag("datacenter", s.consul.datacenter);
    flag("ca-file", s.consul.ca_file);
    s.node = str("node");
    s.service = str("service");
    s.tag = str("tag");
    s.serf_rpc_addr = str("serf-rpc-addr");
    s.serf_rpc_auth = str("serf-rpc-auth");
    s.max_event_bytes = vm["max-event-bytes"].as<size_t>();
    s.name_template = str("event");
    if (s.via == "etcd") {
      // The config's etcd: block, then flags; unset fields come from ETCDCTL_*.
      std::map<std::string, std::string> fields;
      if (vm.count("config")) fields = etcd_connection_of(load_checked_config(str("config")));
      if (vm.count("etcd-endpoints")) fields["endpoints"] = net::etcd_endpoint_lines(str("etcd-endpoints"));
      add_etcd_auth_flags(vm, fields);
      std::vector<haul_kv> kv;
      for (const auto& [k, v] : fields) kv.push_back({k.c_str(), v.c_str()});
      s.etcd = net::etcd_settings_from_config(sdk::Config(kv.data(), kv.size()));
      s.etcd_prefix = str("etcd-prefix");
      while (!s.etcd_prefix.empty() && s.etcd_prefix.back() == '/') s.etcd_prefix.pop_back();
    } else if (s.via != "consul" && s.via != "serf") {
      throw UsageError("--via takes consul, serf or etcd; got '" + s.via + "'");
    }

    std::vector<std::pair<std::string, std::string>> events;  // name, URL
    const auto roles = vm.count("role") ? vm["role"].as<std::vector<std::string>>() : std::vector<std::string>{};
    if (vm.count("url")) {
      std::string name = str("name");
      if (name.empty()) {
        if (roles.size() != 1 || !vm.count("stage"))
          throw UsageError("haul kick URL needs --name EVENT (or one --role and --stage to name it)");
        name = event_name(s.name_template, roles[0], str("stage"));
      }
      events.emplace_back(name, str("url"));
    } else {
      if (!vm.count("manifests") || roles.empty() || !vm.count("stage"))
        throw UsageError("haul kick needs a manifest URL, or --manifests PREFIX with --role and --stage");
      for (const auto& role : roles)
        events.emplace_back(event_name(s.name_template, role, str("stage")),
                            join_url(str("manifests"), manifest_name(role, str("stage"))));
    }
    // Every manifest must exist before any event fires: an event for a role
    // that was never published makes every agent of it fail.
    for (const auto& [name, url] : events) check_event(s, name, url);
    if (!vm.count("no-check")) {
      auto registry = load_registry();
      auto pipeline = build_pipeline(default_config(DeployOptions{}).pipelines.front(), registry, "(built-in default)", false);
      for (const auto& [name, url] : events) {
        StopSignal never;
        DeployLog log("kick");
        FetchPolicy once;
        try {
          fetch_text(pipeline->sources, url, once, never, log);
        } catch (const std::exception& e) {
          throw Error("not firing " + name + ": its manifest " + url + " cannot be read (" + e.what() +
                      "); publish it first (haul publish), or --no-check to fire anyway");
        }
      }
    }
    for (const auto& [name, url] : events) {
      const std::string id = kick(s, name, url);
      spdlog::info("fired {} via {}{}: {}", name, s.via, id.empty() ? "" : " (event " + id + ")", url);
    }
    return 0;
  });
}

}  // namespace haul
