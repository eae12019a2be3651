// SPDX-License-Identifier: Apache-2.0
// The agent's YAML configuration: which pipelines run, each one's trigger,
// sources, hooks and deploy options. With no file, default_config() is the
// stretcher-compatible handler: trigger consul-watch (stdin), every source,
// hook shell.
//
//   state_dir: /var/lib/haul
//   plugin_path: [/opt/haul/plugins]
//   pipelines:
//     web:
//       trigger: { type: consul-http, event: deploy_web }
//       sources: { http: { connect_timeout: 5s } }
//       hooks: [ shell ]
//       deploy: { retry: 3, retry_wait: 2s, timeout: 10m, max_bandwidth: 20M }
#pragma once

#include <haul/plugin.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "config/config_errors.hpp"
#include "config/deploy_options.hpp"
#include "config/env_template.hpp"

namespace haul {

// One plugin as the config names it; `settings` is checked against the
// plugin's declared fields when the pipeline is built.
struct PluginUse {
  std::string type;        // "" when the config's entry was wrong (already reported)
  YAML::Node settings;     // map or null
  std::string field_path;  // "pipelines.web.trigger", for error messages
  YAML::Node place;        // where the plugin's name is written, for error messages (null: nowhere)
};

// A pipeline's `rollout:` block: the fleet-wide rules (canary, batches,
// halt) and the gate plugin that coordinates them (`via: consul` is gate
// consul-rollout); the block's other keys are that plugin's settings.
struct RolloutConfig {
  bool enabled = false;
  haul_rollout_policy policy{};
  PluginUse gate;
};

struct PipelineConfig {
  std::string name;
  PluginUse trigger;
  std::map<std::string, PluginUse> sources;  // settings for named sources; others use defaults
  std::vector<PluginUse> hooks;
  DeployOptions deploy;
  // The desired-release pointer (latest_<role>_<stage>.yml, any source
  // scheme), checked at start-up and every reconcile_interval (jittered).
  std::string desired;
  std::chrono::milliseconds reconcile_interval{std::chrono::minutes(5)};
  RolloutConfig rollout;
  // The file's top-level `consul:` block (null when absent): the connection
  // every consul-* plugin of the pipeline inherits for fields it leaves unset.
  YAML::Node consul;
  YAML::Node etcd;  // likewise the `etcd:` block, for every etcd-* plugin
  // The other pipelines of the same file: a dest one of them deploys to is
  // not this pipeline's (two roles flipping one `current` between them).
  std::vector<std::string> siblings;
  // The application or cluster its fleet status belongs to: the pipeline's
  // `namespace:`, else the file's (empty: derived, see status_namespace_of).
  std::string status_namespace;
  YAML::Node node;  // the pipeline's own map in the file (null for the built-in default), for error places
};

struct HaulConfig {
  std::string origin;  // the file, or "(built-in default)"
  std::string status_namespace;  // top-level `namespace:`; "" when absent
  std::string state_dir;
  std::vector<std::string> plugin_path;
  std::string metrics_listen;    // "127.0.0.1:9469": Prometheus /metrics; empty = off
  std::string metrics_textfile;  // node_exporter textfile, rewritten after each deploy
  // One Consul connection for the whole agent: address, token, datacenter,
  // ca_file, cert_file, key_file, insecure_skip_verify (null when absent).
  YAML::Node consul;
  // One etcd connection likewise: endpoints, user, password, ca_file,
  // cert_file, key_file, insecure_skip_verify (null when absent).
  YAML::Node etcd;
  std::vector<PipelineConfig> pipelines;
};

// The keys of a rollout: block the core reads; the others are the gate's.
const std::vector<std::string>& rollout_policy_keys();

// The Consul connection fields a consul-* plugin may inherit.
const std::vector<std::string>& consul_connection_keys();
// The etcd connection fields an etcd-* plugin may inherit.
const std::vector<std::string>& etcd_connection_keys();

// Throws one Error naming every mistake of the file.
HaulConfig parse_config(const std::string& text, const std::string& origin,
                        const EnvLookup& lookup = process_env);
// Adds every mistake to errors and returns what parsed: a pipeline with a
// wrong field is kept (its other fields as written), one that is not a map is not.
HaulConfig parse_config(const std::string& text, const std::string& origin, ConfigErrors& errors,
                        const EnvLookup& lookup = process_env);
// A `sources:` map (plugin name → settings), as pipelines and haul-release.yaml write it.
std::map<std::string, PluginUse> parse_source_settings(const YAML::Node& node, const std::string& origin,
                                                      const std::string& path);
// The file's text; an Error saying why it cannot be read (strerror).
std::string read_config_file(const std::string& path);
HaulConfig load_config_file(const std::string& path);

// The namespace a pipeline's status documents live under (status hooks'
// `namespace` setting when they leave it unset; `haul status --config`'s
// filter): its own or the file's `namespace:`, else its trigger's event
// (consul-http `event`, the last segment of etcd-watch's `key`), else
// "default".
std::string status_namespace_of(const PipelineConfig& pipeline);
// The embedded default: one pipeline "default" = consul-watch + all sources + shell.
HaulConfig default_config(const DeployOptions& deploy);

}  // namespace haul
