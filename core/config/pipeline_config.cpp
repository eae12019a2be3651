// SPDX-License-Identifier: Apache-2.0
#include "config/pipeline_config.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>

#include "config/yaml_util.hpp"
#include "util/error.hpp"
#include "util/units.hpp"

namespace haul {
namespace {

// (A YAML::Node is assigned once: assigning to one that already refers to a
// node writes into the document.)
PluginUse plugin_use(const YAML::Node& node, const std::string& origin, const std::string& path) {
  PluginUse use;
  use.field_path = path;
  if (node.IsScalar()) {
    use.type = node.Scalar();
    use.place = node;
    return use;
  }
  if (!node.IsMap())
    throw Error(yaml_where(origin, node) + ": " + path +
                ": expected a plugin name or a map with 'type', got " + yaml_kind(node));
  if (!node["type"].IsDefined())
    throw Error(yaml_where(origin, node) + ": " + path + ": missing 'type' (the plugin's name)");
  use.type = yaml_string(node["type"], origin, path + ".type");
  use.place = node["type"];
  use.settings = node;
  return use;
}

}  // namespace

const std::vector<std::string>& rollout_policy_keys() {
  static const std::vector<std::string> keys = {"via", "canary", "canary_soak", "max_parallel", "max_failures", "on_halt"};
  return keys;
}

const std::vector<std::string>& etcd_connection_keys() {
  static const std::vector<std::string> keys = {"endpoints", "user",     "password",
                                                "ca_file",   "cert_file", "key_file", "insecure_skip_verify"};
  return keys;
}

const std::vector<std::string>& consul_connection_keys() {
  static const std::vector<std::string> keys = {"address",   "token",    "datacenter",          "ca_file",
                                                "cert_file", "key_file", "insecure_skip_verify"};
  return keys;
}

namespace {

RolloutConfig parse_rollout(const YAML::Node& node, const std::string& origin, const std::string& path,
                            ConfigErrors& errors) {
  RolloutConfig r;
  if (!node.IsDefined() || node.IsNull()) return r;
  if (!node.IsMap()) {
    errors.add(yaml_where(origin, node) + ": " + path +
               ": expected a map like { canary: 1, canary_soak: 2m, max_parallel: 25%, max_failures: 1, on_halt: rollback }");
    return r;
  }
  r.enabled = true;
  haul_rollout_policy& p = r.policy;
  p.struct_size = sizeof p;
  p.canary = 1;
  p.max_parallel_percent = 10;
  p.max_failures = 1;
  // Each key on its own, as for deploy: (the gate's own keys are checked with the plugin).
  auto field = [&](const char* key, const std::function<void(const std::string& text)>& take) {
    if (!node[key].IsDefined()) return;
    errors.collect([&] { take(yaml_string(node[key], origin, path + "." + key)); });
  };
  auto fail = [&](const char* key, const std::string& expected, const std::string& got) {
    return Error(yaml_where(origin, node[key]) + ": " + path + "." + key + ": expected " + expected + ", got '" + got + "'");
  };
  auto whole = [&](const char* key, uint32_t& out, uint32_t minimum) {
    field(key, [&](const std::string& t) {
      if (t.empty() || t.size() > 9 || !std::all_of(t.begin(), t.end(), ::isdigit) || std::stoul(t) < minimum)
        throw fail(key, "a whole number of nodes of at least " + std::to_string(minimum), t);
      out = static_cast<uint32_t>(std::stoul(t));
    });
  };
  whole("canary", p.canary, 0);
  whole("max_failures", p.max_failures, 1);
  field("canary_soak", [&](const std::string& t) {
    auto d = parse_duration(t);
    if (!d) throw fail("canary_soak", "a duration like 30s or 2m", t);
    p.canary_soak_ms = static_cast<uint64_t>(d->count());
  });
  field("max_parallel", [&](const std::string& t) {
    const bool percent = !t.empty() && t.back() == '%';
    const std::string digits = percent ? t.substr(0, t.size() - 1) : t;
    const bool number = !digits.empty() && digits.size() <= 9 && std::all_of(digits.begin(), digits.end(), ::isdigit);
    const unsigned long v = number ? std::stoul(digits) : 0;
    if (!number || v < 1 || (percent && v > 100))
      throw fail("max_parallel", "a number of nodes (3) or a share of the fleet (25%), at least 1 and at most 100%", t);
    p.max_parallel = percent ? 0 : static_cast<uint32_t>(v);
    p.max_parallel_percent = percent ? static_cast<uint32_t>(v) : 0;
  });
  field("on_halt", [&](const std::string& t) {
    if (t != "rollback" && t != "stay") throw fail("on_halt", "rollback or stay", t);
    p.rollback_on_halt = t == "rollback";
  });
  std::string via = "consul";
  field("via", [&](const std::string& t) { via = t; });
  r.gate.type = via + "-rollout";
  r.gate.field_path = path;
  r.gate.settings = node;  // the policy keys are skipped when the plugin's settings are checked
  r.gate.place = node["via"].IsDefined() ? node["via"] : node;
  return r;
}

// A namespace is one segment of a KV key: letters, digits, '.', '_', '-'.
std::string parse_namespace(const YAML::Node& node, const std::string& origin, const std::string& path) {
  const std::string ns = yaml_string(node, origin, path);
  const bool ok = !ns.empty() && ns != "." && ns != ".." && std::all_of(ns.begin(), ns.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
  if (!ok)
    throw Error(yaml_where(origin, node) + ": " + path + ": expected a name of letters, digits, '.', '_' and '-' "
                "(the application or cluster, e.g. shop), got '" + ns + "'");
  return ns;
}

// A top-level connection block (consul:, etcd:) that every plugin of its
// family inherits, into out — left untouched when absent or wrong: an unset
// YAML::Node may later be rebound, one that refers to a node would be written
// through (see plugin_use).
void connection_block(const YAML::Node& root, const char* key, const std::vector<std::string>& keys,
                      const std::string& example, const std::string& origin, YAML::Node& out, ConfigErrors& errors) {
  const YAML::Node block = root[key];
  if (!block.IsDefined() || block.IsNull()) return;
  if (!block.IsMap()) {
    errors.add(yaml_where(origin, block) + ": " + key + ": expected a map like " + example);
    return;
  }
  reject_unknown_keys(block, keys, origin, key, errors);
  out = block;
}

PipelineConfig parse_pipeline(const std::string& name, const YAML::Node& node, const std::string& origin,
                              ConfigErrors& errors) {
  PipelineConfig p;
  p.name = name;
  p.node = node;
  const std::string path = "pipelines." + p.name;
  reject_unknown_keys(node, {"trigger", "sources", "hooks", "deploy", "desired", "reconcile_interval", "rollout", "namespace"},
                      origin, path, errors);
  if (node["namespace"].IsDefined())
    errors.collect([&] { p.status_namespace = parse_namespace(node["namespace"], origin, path + ".namespace"); });
  if (!node["trigger"].IsDefined())
    errors.add(yaml_where(origin, node) + ": " + path + ": missing 'trigger' (e.g. trigger: consul-watch)");
  else
    errors.collect([&] { p.trigger = plugin_use(node["trigger"], origin, path + ".trigger"); });
  errors.collect([&] { p.sources = parse_source_settings(node["sources"], origin, path + ".sources"); });
  const YAML::Node hooks = node["hooks"];
  if (!hooks.IsDefined() || hooks.IsNull()) {
    p.hooks.push_back({"shell", YAML::Node(), path + ".hooks[0]", YAML::Node()});
  } else if (!hooks.IsSequence()) {
    errors.add(yaml_where(origin, hooks) + ": " + path + ".hooks: expected a list, e.g. [shell]");
  } else {
    for (size_t i = 0; i < hooks.size(); ++i)
      errors.collect([&] { p.hooks.push_back(plugin_use(hooks[i], origin, path + ".hooks[" + std::to_string(i) + "]")); });
  }
  p.deploy = parse_deploy_options(node["deploy"], origin, path + ".deploy", errors);
  p.rollout = parse_rollout(node["rollout"], origin, path + ".rollout", errors);
  if (node["desired"].IsDefined() && !node["desired"].IsNull())
    errors.collect([&] {
      const std::string desired = yaml_string(node["desired"], origin, path + ".desired");
      if (desired.find("://") == std::string::npos)
        throw Error(yaml_where(origin, node["desired"]) + ": " + path +
                    ".desired: expected the URL of a latest_<role>_<stage>.yml pointer, e.g. s3://bucket/app/latest_web_production.yml");
      p.desired = desired;
    });
  if (node["reconcile_interval"].IsDefined())
    errors.collect([&] {
      const std::string text = yaml_string(node["reconcile_interval"], origin, path + ".reconcile_interval");
      auto d = parse_duration(text);
      if (!d || d->count() < 100)
        throw Error(yaml_where(origin, node["reconcile_interval"]) + ": " + path +
                    ".reconcile_interval: expected a duration of at least 100ms, like 5m, got '" + text + "'");
      if (!node["desired"].IsDefined() || node["desired"].IsNull())
        throw Error(yaml_where(origin, node["reconcile_interval"]) + ": " + path +
                    ".reconcile_interval: needs desired: (the pointer to reconcile with)");
      p.reconcile_interval = *d;
    });
  return p;
}

}  // namespace

HaulConfig parse_config(const std::string& raw, const std::string& origin, const EnvLookup& lookup) {
  ConfigErrors errors(origin);
  HaulConfig cfg = parse_config(raw, origin, errors, lookup);
  errors.throw_if_any();
  return cfg;
}

HaulConfig parse_config(const std::string& raw, const std::string& origin, ConfigErrors& errors, const EnvLookup& lookup) {
  HaulConfig cfg;
  cfg.origin = origin;
  YAML::Node root;
  // A template or YAML syntax error leaves nothing to read on.
  if (!errors.collect([&] { root = parse_yaml(render_env_template(raw, origin, lookup), origin); })) return cfg;
  if (!root.IsMap()) {
    errors.add(origin + ": expected a map with 'pipelines' at the top, got " + yaml_kind(root));
    return cfg;
  }
  reject_unknown_keys(root, {"state_dir", "plugin_path", "metrics_listen", "metrics_textfile", "consul", "etcd", "pipelines",
                             "namespace"},
                      origin, "", errors);
  connection_block(root, "consul", consul_connection_keys(), "{ address: http://127.0.0.1:8500, token: ... }", origin,
                   cfg.consul, errors);
  connection_block(root, "etcd", etcd_connection_keys(), "{ endpoints: [http://10.0.0.1:2379], user: ... }", origin, cfg.etcd,
                   errors);
  if (root["namespace"].IsDefined())
    errors.collect([&] { cfg.status_namespace = parse_namespace(root["namespace"], origin, "namespace"); });
  auto text = [&](const char* key, std::string& out) {
    if (root[key].IsDefined()) errors.collect([&] { out = yaml_string(root[key], origin, key); });
  };
  text("metrics_listen", cfg.metrics_listen);
  text("metrics_textfile", cfg.metrics_textfile);
  text("state_dir", cfg.state_dir);
  errors.collect([&] { cfg.plugin_path = yaml_string_list(root["plugin_path"], origin, "plugin_path"); });
  const YAML::Node pipelines = root["pipelines"];
  if (!pipelines.IsDefined() || !pipelines.IsMap() || pipelines.size() == 0) {
    errors.add(yaml_where(origin, pipelines.IsDefined() ? pipelines : root) +
               ": pipelines: expected a map of one or more named pipelines (e.g. pipelines: { web: { trigger: ... } })");
    return cfg;
  }
  for (const auto& kv : pipelines) {
    const std::string name = kv.first.Scalar();
    if (!kv.second.IsMap()) {
      errors.add(yaml_where(origin, kv.second) + ": pipelines." + name + ": expected a map with trigger, sources, hooks, deploy");
      continue;
    }
    cfg.pipelines.push_back(parse_pipeline(name, kv.second, origin, errors));
    cfg.pipelines.back().consul = cfg.consul;
    cfg.pipelines.back().etcd = cfg.etcd;
  }
  for (auto& p : cfg.pipelines) {
    for (const auto& other : cfg.pipelines)
      if (other.name != p.name) p.siblings.push_back(other.name);
    if (p.status_namespace.empty()) p.status_namespace = cfg.status_namespace;
  }
  return cfg;
}

std::map<std::string, PluginUse> parse_source_settings(const YAML::Node& sources, const std::string& origin,
                                                      const std::string& path) {
  std::map<std::string, PluginUse> out;
  if (!sources.IsDefined() || sources.IsNull()) return out;
  if (!sources.IsMap())
    throw Error(yaml_where(origin, sources) + ": " + path + ": expected a map from source plugin name to its settings");
  for (const auto& s : sources) {
    PluginUse use;
    use.type = s.first.Scalar();
    use.settings = s.second;
    use.field_path = path + "." + use.type;
    use.place = s.first;
    out[use.type] = use;
  }
  return out;
}

std::string status_namespace_of(const PipelineConfig& p) {
  if (!p.status_namespace.empty()) return p.status_namespace;
  // Two applications sharing a Consul or etcd must use different events
  // anyway (or each would deploy the other's releases): the event names
  // the application's deploy stream.
  std::string event;
  if (p.trigger.settings.IsMap()) {
    if (p.trigger.type == "consul-http" && p.trigger.settings["event"].IsScalar()) event = p.trigger.settings["event"].Scalar();
    if (p.trigger.type == "etcd-watch" && p.trigger.settings["key"].IsScalar()) {
      event = p.trigger.settings["key"].Scalar();
      while (!event.empty() && event.back() == '/') event.pop_back();
      event = event.substr(event.rfind('/') == std::string::npos ? 0 : event.rfind('/') + 1);
    }
  }
  std::string ns;
  for (char c : event) ns += std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' ? c : '_';
  return ns.empty() || ns == "." || ns == ".." ? "default" : ns;
}

std::string read_config_file(const std::string& path) {
  // open(2) and read(2), not a stream: the operator is told why (a folder
  // opens as a stream and reads as empty).
  auto fail = [&] { return Error(path + ": cannot read the config file: " + std::strerror(errno)); };
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw fail();
  std::string text;
  char buf[65536];
  while (true) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const Error e = fail();
      close(fd);
      throw e;
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return text;
}

HaulConfig load_config_file(const std::string& path) { return parse_config(read_config_file(path), path); }

HaulConfig default_config(const DeployOptions& deploy) {
  HaulConfig cfg;
  cfg.origin = "(built-in default)";
  PipelineConfig p;
  p.name = "default";
  p.trigger = {"consul-watch", YAML::Node(), "trigger", YAML::Node()};
  p.hooks.push_back({"shell", YAML::Node(), "hooks[0]", YAML::Node()});
  p.deploy = deploy;
  cfg.pipelines.push_back(std::move(p));
  return cfg;
}

}  // namespace haul
