#include "config/pipeline_config.hpp"

#include <algorithm>
#include <cctype>
#include <functional>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/yaml_util.hpp"
#include "util/error.hpp"
#include "util/units.hpp"

namespace haul {
namespace {

PluginUse plugin_use(const YAML::Node& node, const std::string& origin, const std::string& path) {
  PluginUse use;
  use.field_path = path;
  if (node.IsScalar()) {
    use.type = node.Scalar();
    return use;
  }
  if (!node.IsMap())
    throw Error(yaml_where(origin, node) + ": " + path +
                ": expected a plugin name or a map with 'type', got " + yaml_kind(node));
  if (!node["type"].IsDefined())
    throw Error(yaml_where(origin, node) + ": " + path + ": missing 'type' (the plugin's name)");
  use.type = yaml_string(node["type"], origin, path + ".type");
  use.settings = node;
  return use;
}

}  // namespace

DeployOptions parse_deploy_options(const YAML::Node& node, const std::string& origin,
                                   const std::string& path) {
  DeployOptions d;
  if (!node.IsDefined() || node.IsNull()) return d;
  if (!node.IsMap())
    throw Error(yaml_where(origin, node) + ": " + path + ": expected a map, got " + yaml_kind(node));
  reject_unknown_keys(node,
                      {"random_delay", "retry", "retry_wait", "retry_missing", "timeout", "max_bandwidth",
                       "rsync_verbose", "keep_releases", "lock_timeout", "max_extract_bytes", "max_entries",
                       "max_compression_ratio", "allow_setuid", "trusted_keys", "strict"},
                      origin, path);
  auto duration = [&](const char* key, std::chrono::milliseconds& out) {
    if (!node[key].IsDefined()) return;
    std::string text = yaml_string(node[key], origin, path + "." + key);
    auto v = parse_duration(text);
    if (!v)
      throw Error(yaml_where(origin, node[key]) + ": " + path + "." + key +
                  ": expected a duration like 500ms, 10s, 1m30s; got '" + text + "'");
    out = *v;
  };
  duration("random_delay", d.random_delay);
  duration("retry_wait", d.retry_wait);
  duration("timeout", d.timeout);
  duration("lock_timeout", d.lock_timeout);
  if (node["keep_releases"].IsDefined()) {
    std::string text = yaml_string(node["keep_releases"], origin, path + ".keep_releases");
    if (text.empty() || !std::all_of(text.begin(), text.end(), ::isdigit) || std::stoi(text) < 1)
      throw Error(yaml_where(origin, node["keep_releases"]) + ": " + path +
                  ".keep_releases: expected a whole number of at least 1, got '" + text + "'");
    d.keep_releases = std::stoi(text);
  }
  if (node["retry"].IsDefined()) {
    std::string text = yaml_string(node["retry"], origin, path + ".retry");
    try {
      size_t used = 0;
      d.retry = std::stoi(text, &used);
      if (used != text.size() || d.retry < 0) throw std::invalid_argument("negative");
    } catch (const std::logic_error&) {
      throw Error(yaml_where(origin, node["retry"]) + ": " + path +
                  ".retry: expected a whole number of retries (0 or more), got '" + text + "'");
    }
  }
  auto whole = [&](const char* key, uint64_t& out) {
    if (!node[key].IsDefined()) return;
    std::string text = yaml_string(node[key], origin, path + "." + key);
    if (text.empty() || !std::all_of(text.begin(), text.end(), ::isdigit) || std::stoull(text) == 0)
      throw Error(yaml_where(origin, node[key]) + ": " + path + "." + key + ": expected a whole number above 0, got '" + text + "'");
    out = std::stoull(text);
  };
  whole("max_entries", d.max_entries);
  whole("max_compression_ratio", d.max_compression_ratio);
  if (node["max_extract_bytes"].IsDefined()) {
    std::string text = yaml_string(node["max_extract_bytes"], origin, path + ".max_extract_bytes");
    auto v = parse_bytes(text);
    if (!v) throw Error(yaml_where(origin, node["max_extract_bytes"]) + ": " + path + ".max_extract_bytes: expected a size like 2GiB, got '" + text + "'");
    d.max_extract_bytes = *v;
  }
  auto boolean = [&](const char* key, bool& out) {
    if (!node[key].IsDefined()) return;
    std::string text = yaml_string(node[key], origin, path + "." + key);
    if (text != "true" && text != "false")
      throw Error(yaml_where(origin, node[key]) + ": " + path + "." + key + ": expected true or false, got '" + text + "'");
    out = text == "true";
  };
  boolean("allow_setuid", d.allow_setuid);
  boolean("retry_missing", d.retry_missing);
  boolean("strict", d.strict);
  for (const auto& key : yaml_string_list(node["trusted_keys"], origin, path + ".trusted_keys")) {
    std::filesystem::path p = key;
    if (p.is_relative() && origin.find('(') != 0) p = std::filesystem::path(origin).parent_path() / p;
    d.trusted_keys.push_back(p.lexically_normal().string());
  }
  if (node["max_bandwidth"].IsDefined()) {
    std::string text = yaml_string(node["max_bandwidth"], origin, path + ".max_bandwidth");
    auto v = parse_bytes(text);
    if (!v)
      throw Error(yaml_where(origin, node["max_bandwidth"]) + ": " + path +
                  ".max_bandwidth: expected bytes per second like 800k, 10M, 1.5MiB; got '" + text + "'");
    d.max_bandwidth_bytes_per_s = *v;
  }
  if (node["rsync_verbose"].IsDefined())
    d.rsync_verbose = node["rsync_verbose"].IsNull() ? "" : yaml_string(node["rsync_verbose"], origin, path + ".rsync_verbose");
  return d;
}

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

RolloutConfig parse_rollout(const YAML::Node& node, const std::string& origin, const std::string& path) {
  RolloutConfig r;
  if (!node.IsDefined() || node.IsNull()) return r;
  if (!node.IsMap())
    throw Error(yaml_where(origin, node) + ": " + path +
                ": expected a map like { canary: 1, canary_soak: 2m, max_parallel: 25%, max_failures: 1, on_halt: rollback }");
  r.enabled = true;
  haul_rollout_policy& p = r.policy;
  p.struct_size = sizeof p;
  p.canary = 1;
  p.max_parallel_percent = 10;
  p.max_failures = 1;
  auto text_of = [&](const char* key) { return yaml_string(node[key], origin, path + "." + key); };
  auto fail = [&](const char* key, const std::string& expected, const std::string& got) {
    return Error(yaml_where(origin, node[key]) + ": " + path + "." + key + ": expected " + expected + ", got '" + got + "'");
  };
  auto whole = [&](const char* key, uint32_t& out, uint32_t minimum) {
    if (!node[key].IsDefined()) return;
    const std::string t = text_of(key);
    if (t.empty() || t.size() > 9 || !std::all_of(t.begin(), t.end(), ::isdigit) || std::stoul(t) < minimum)
      throw fail(key, "a whole number of nodes of at least " + std::to_string(minimum), t);
    out = static_cast<uint32_t>(std::stoul(t));
  };
  whole("canary", p.canary, 0);
  whole("max_failures", p.max_failures, 1);
  if (node["canary_soak"].IsDefined()) {
    const std::string t = text_of("canary_soak");
    auto d = parse_duration(t);
    if (!d) throw fail("canary_soak", "a duration like 30s or 2m", t);
    p.canary_soak_ms = static_cast<uint64_t>(d->count());
  }
  if (node["max_parallel"].IsDefined()) {
    std::string t = text_of("max_parallel");
    const bool percent = !t.empty() && t.back() == '%';
    const std::string digits = percent ? t.substr(0, t.size() - 1) : t;
    const bool number = !digits.empty() && digits.size() <= 9 && std::all_of(digits.begin(), digits.end(), ::isdigit);
    const unsigned long v = number ? std::stoul(digits) : 0;
    if (!number || v < 1 || (percent && v > 100))
      throw fail("max_parallel", "a number of nodes (3) or a share of the fleet (25%), at least 1 and at most 100%", t);
    p.max_parallel = percent ? 0 : static_cast<uint32_t>(v);
    p.max_parallel_percent = percent ? static_cast<uint32_t>(v) : 0;
  }
  if (node["on_halt"].IsDefined()) {
    const std::string t = text_of("on_halt");
    if (t != "rollback" && t != "stay") throw fail("on_halt", "rollback or stay", t);
    p.rollback_on_halt = t == "rollback";
  }
  const std::string via = node["via"].IsDefined() ? text_of("via") : "consul";
  r.gate.type = via + "-rollout";
  r.gate.field_path = path;
  r.gate.settings = node;  // the policy keys are skipped when the plugin's settings are checked
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

PipelineConfig parse_pipeline(const std::string& name, const YAML::Node& node, const std::string& origin) {
  PipelineConfig p;
  p.name = name;
  const std::string path = "pipelines." + p.name;
  if (!node.IsMap())
    throw Error(yaml_where(origin, node) + ": " + path + ": expected a map with trigger, sources, hooks, deploy");
  reject_unknown_keys(node, {"trigger", "sources", "hooks", "deploy", "desired", "reconcile_interval", "rollout", "namespace"},
                      origin, path);
  if (node["namespace"].IsDefined()) p.status_namespace = parse_namespace(node["namespace"], origin, path + ".namespace");
  if (!node["trigger"].IsDefined())
    throw Error(yaml_where(origin, node) + ": " + path + ": missing 'trigger' (e.g. trigger: consul-watch)");
  p.trigger = plugin_use(node["trigger"], origin, path + ".trigger");
  p.sources = parse_source_settings(node["sources"], origin, path + ".sources");
  const YAML::Node hooks = node["hooks"];
  if (!hooks.IsDefined() || hooks.IsNull()) {
    p.hooks.push_back({"shell", YAML::Node(), path + ".hooks[0]"});
  } else {
    if (!hooks.IsSequence())
      throw Error(yaml_where(origin, hooks) + ": " + path + ".hooks: expected a list, e.g. [shell]");
    for (size_t i = 0; i < hooks.size(); ++i)
      p.hooks.push_back(plugin_use(hooks[i], origin, path + ".hooks[" + std::to_string(i) + "]"));
  }
  p.deploy = parse_deploy_options(node["deploy"], origin, path + ".deploy");
  p.rollout = parse_rollout(node["rollout"], origin, path + ".rollout");
  if (node["desired"].IsDefined() && !node["desired"].IsNull()) {
    p.desired = yaml_string(node["desired"], origin, path + ".desired");
    if (p.desired.find("://") == std::string::npos)
      throw Error(yaml_where(origin, node["desired"]) + ": " + path +
                  ".desired: expected the URL of a latest_<role>_<stage>.yml pointer, e.g. s3://bucket/app/latest_web_production.yml");
  }
  if (node["reconcile_interval"].IsDefined()) {
    const std::string text = yaml_string(node["reconcile_interval"], origin, path + ".reconcile_interval");
    auto d = parse_duration(text);
    if (!d || d->count() < 100)
      throw Error(yaml_where(origin, node["reconcile_interval"]) + ": " + path +
                  ".reconcile_interval: expected a duration of at least 100ms, like 5m, got '" + text + "'");
    if (p.desired.empty())
      throw Error(yaml_where(origin, node["reconcile_interval"]) + ": " + path +
                  ".reconcile_interval: needs desired: (the pointer to reconcile with)");
    p.reconcile_interval = *d;
  }
  return p;
}

}  // namespace

HaulConfig parse_config(const std::string& raw, const std::string& origin, const EnvLookup& lookup) {
  const std::string text = render_env_template(raw, origin, lookup);
  YAML::Node root = parse_yaml(text, origin);
  if (!root.IsMap())
    throw Error(origin + ": expected a map with 'pipelines' at the top, got " + yaml_kind(root));
  // Every error of the file is reported at once (one per part: the top
  // level, then each pipeline), not the first only.
  std::vector<std::string> errors;
  auto collect = [&](const std::function<void()>& part) {
    try {
      part();
    } catch (const Error& e) {
      errors.push_back(e.what());
    }
  };
  HaulConfig cfg;
  cfg.origin = origin;
  collect([&] {
    reject_unknown_keys(root, {"state_dir", "plugin_path", "metrics_listen", "metrics_textfile", "consul", "etcd", "pipelines",
                               "namespace"},
                        origin, "");
  });
  collect([&] {
    const YAML::Node consul = root["consul"];
    if (!consul.IsDefined() || consul.IsNull()) return;
    if (!consul.IsMap())
      throw Error(yaml_where(origin, consul) + ": consul: expected a map like { address: http://127.0.0.1:8500, token: ... }");
    reject_unknown_keys(consul, consul_connection_keys(), origin, "consul");
    cfg.consul = consul;
  });
  collect([&] {
    const YAML::Node etcd = root["etcd"];
    if (!etcd.IsDefined() || etcd.IsNull()) return;
    if (!etcd.IsMap())
      throw Error(yaml_where(origin, etcd) + ": etcd: expected a map like { endpoints: [http://10.0.0.1:2379], user: ... }");
    reject_unknown_keys(etcd, etcd_connection_keys(), origin, "etcd");
    cfg.etcd = etcd;
  });
  collect([&] {
    if (root["namespace"].IsDefined()) cfg.status_namespace = parse_namespace(root["namespace"], origin, "namespace");
  });
  collect([&] {
    if (root["metrics_listen"].IsDefined()) cfg.metrics_listen = yaml_string(root["metrics_listen"], origin, "metrics_listen");
    if (root["metrics_textfile"].IsDefined())
      cfg.metrics_textfile = yaml_string(root["metrics_textfile"], origin, "metrics_textfile");
    if (root["state_dir"].IsDefined()) cfg.state_dir = yaml_string(root["state_dir"], origin, "state_dir");
    cfg.plugin_path = yaml_string_list(root["plugin_path"], origin, "plugin_path");
  });
  const YAML::Node pipelines = root["pipelines"];
  if (!pipelines.IsDefined() || !pipelines.IsMap() || pipelines.size() == 0)
    errors.push_back(yaml_where(origin, pipelines.IsDefined() ? pipelines : root) +
                     ": pipelines: expected a map of one or more named pipelines (e.g. pipelines: { web: { trigger: ... } })");
  else
    for (const auto& kv : pipelines)
      collect([&] {
        cfg.pipelines.push_back(parse_pipeline(kv.first.Scalar(), kv.second, origin));
        cfg.pipelines.back().consul = cfg.consul;
        cfg.pipelines.back().etcd = cfg.etcd;
      });
  for (auto& p : cfg.pipelines) {
    for (const auto& other : cfg.pipelines)
      if (other.name != p.name) p.siblings.push_back(other.name);
    if (p.status_namespace.empty()) p.status_namespace = cfg.status_namespace;
  }
  if (errors.size() == 1) throw Error(errors[0]);
  if (!errors.empty()) {
    std::string all = origin + ": " + std::to_string(errors.size()) + " errors:";
    for (const auto& e : errors) all += "\n  " + e;
    throw Error(all);
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

HaulConfig load_config_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(path + ": cannot read the config file");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_config(ss.str(), path);
}

HaulConfig default_config(const DeployOptions& deploy) {
  HaulConfig cfg;
  cfg.origin = "(built-in default)";
  PipelineConfig p;
  p.name = "default";
  p.trigger = {"consul-watch", YAML::Node(), "trigger"};
  p.hooks.push_back({"shell", YAML::Node(), "hooks[0]"});
  p.deploy = deploy;
  cfg.pipelines.push_back(std::move(p));
  return cfg;
}

}  // namespace haul
