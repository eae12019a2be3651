#include "pipeline/pipeline.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "config/yaml_util.hpp"
#include "plugin/config_schema.hpp"
#include "signing/manifest_signature.hpp"
#include "util/error.hpp"

namespace haul {

namespace {

// A plugin that refuses its settings (two keys that go together, a size it
// cannot use) is a mistake in the config file: said at the place it was written.
template <class Instance>
std::unique_ptr<Instance> instantiate(std::shared_ptr<LoadedPlugin> plugin, const PluginSettings& settings,
                                      const std::string& label, const std::string& origin, const YAML::Node& node,
                                      const std::string& field_path) {
  try {
    return std::make_unique<Instance>(std::move(plugin), settings, label);
  } catch (const Error& e) {
    throw Error(yaml_where(origin, node) + ": " + field_path + ": " + e.what());
  }
}

}  // namespace

std::vector<HookInstance*> Pipeline::hook_ptrs() const {
  std::vector<HookInstance*> out;
  for (const auto& h : hooks) out.push_back(h.get());
  return out;
}

DeployResult Pipeline::run_deploy(const DeployRequest& request, StopSignal& abort, StopSignal* stopping) const {
  DeployResult r = DeployEngine(name, sources, hook_ptrs(), deploy, {gate.get(), rollout}, owner).run(request, abort, stopping);
  if (applied && !r.interrupted) {
    try {
      applied->record({request.event_id, request.event_ltime, request.manifest_url, r.manifest_sha256,
                       r.ok ? "success" : "failure", r.error, r.finished_at_unix_ms});
    } catch (const std::exception& e) {
      spdlog::error("[{}] {}", name, e.what());
    }
  }
  return r;
}

namespace {

// A consul-* (etcd-*) plugin's settings, with the connection fields it
// leaves unset taken from `fallback` (the file's consul: or etcd: block) —
// only fields the plugin declares.
YAML::Node with_connection_defaults(const LoadedPlugin& plugin, const YAML::Node& settings, const YAML::Node& fallback,
                                    const std::string& family, const std::vector<std::string>& keys) {
  const bool of_family = plugin.name().rfind(family, 0) == 0 || plugin.name() + "-" == family;  // "etcd" is one too
  if (!of_family || !fallback.IsDefined() || !fallback.IsMap()) return settings;
  YAML::Node merged = settings.IsMap() ? YAML::Clone(settings) : YAML::Node(YAML::NodeType::Map);
  for (const auto* field : plugin.fields()) {
    const std::string key = field->name;
    if (std::find(keys.begin(), keys.end(), key) == keys.end() || merged[key].IsDefined()) continue;
    if (fallback[key].IsDefined()) merged[key] = fallback[key];
  }
  return merged;
}

// Settings with both families' defaults (a plugin belongs to one at most).
YAML::Node with_store_defaults(const LoadedPlugin& plugin, const YAML::Node& settings, const YAML::Node& consul,
                               const YAML::Node& etcd) {
  return with_connection_defaults(plugin, with_connection_defaults(plugin, settings, consul, "consul-", consul_connection_keys()),
                                  etcd, "etcd-", etcd_connection_keys());
}

// A status hook's namespace, when its settings leave it unset: the config's
// (status_namespace_of).
YAML::Node with_namespace(const LoadedPlugin& plugin, const YAML::Node& settings, const PipelineConfig& cfg) {
  const auto& fields = plugin.fields();
  const bool declares = std::any_of(fields.begin(), fields.end(), [](const auto* f) { return std::string(f->name) == "namespace"; });
  if (!declares || (settings.IsMap() && settings["namespace"].IsDefined())) return settings;
  YAML::Node merged = settings.IsMap() ? YAML::Clone(settings) : YAML::Node(YAML::NodeType::Map);
  merged["namespace"] = status_namespace_of(cfg);
  return merged;
}

}  // namespace

std::unique_ptr<Pipeline> build_pipeline(const PipelineConfig& cfg, const PluginRegistry& registry,
                                         const std::string& origin, bool with_trigger, const std::string& state_dir) {
  auto p = std::make_unique<Pipeline>();
  if (!state_dir.empty()) p->applied = std::make_unique<AppliedEvents>(state_dir, cfg.name);
  p->name = cfg.name;
  p->deploy = cfg.deploy;
  p->desired = cfg.desired;
  p->reconcile_interval = cfg.reconcile_interval;
  p->owner.siblings = cfg.siblings;
  // A path, as given to --config: recorded beside each dest it deploys.
  if (origin.find('(') == std::string::npos) p->owner.config = std::filesystem::absolute(origin).lexically_normal().string();
  const std::string where = origin + ": pipeline " + cfg.name;
  // A missing or unreadable trusted key is a config error now, not at the first event.
  try {
    TrustedKeys::load(cfg.deploy.trusted_keys);
  } catch (const Error& e) {
    throw Error(where + " deploy.trusted_keys: " + e.what());
  }
  if (with_trigger) {
    auto plugin = registry.require(cfg.trigger.type, HAUL_KIND_TRIGGER, where + " trigger");
    auto settings = validate_plugin_config(*plugin, with_store_defaults(*plugin, cfg.trigger.settings, cfg.consul, cfg.etcd),
                                           origin, cfg.trigger.field_path);
    p->trigger = instantiate<TriggerInstance>(plugin, settings, cfg.name + "/" + plugin->name(), origin, cfg.trigger.settings,
                                              cfg.trigger.field_path);
  }
  for (const auto& [name, use] : cfg.sources) registry.require(name, HAUL_KIND_SOURCE, where + " sources");
  for (const auto& plugin : registry.of_kind(HAUL_KIND_SOURCE)) {
    auto it = cfg.sources.find(plugin->name());
    YAML::Node node = it == cfg.sources.end() ? YAML::Node() : it->second.settings;
    std::string path = it == cfg.sources.end() ? "pipelines." + cfg.name + ".sources." + plugin->name()
                                               : it->second.field_path;
    auto settings = validate_plugin_config(*plugin, with_store_defaults(*plugin, node, cfg.consul, cfg.etcd), origin, path, {});
    p->sources.add(instantiate<SourceInstance>(plugin, settings, cfg.name + "/" + plugin->name(), origin, node, path));
  }
  // Hooks take the consul: block, else the pipeline's consul-http trigger's
  // connection: a status written where the events come from.
  YAML::Node hook_consul = cfg.consul;
  if ((!hook_consul.IsDefined() || hook_consul.IsNull()) && cfg.trigger.type == "consul-http")
    hook_consul = cfg.trigger.settings;
  if (cfg.rollout.enabled) {
    const PluginUse& use = cfg.rollout.gate;
    auto plugin = registry.require(use.type, HAUL_KIND_GATE, where + " rollout (via: " +
                                                                  use.type.substr(0, use.type.size() - 8) + ")");
    std::vector<std::string> reserved = rollout_policy_keys();
    auto settings = validate_plugin_config(*plugin, with_store_defaults(*plugin, use.settings, hook_consul, cfg.etcd), origin,
                                           use.field_path, reserved);
    p->gate = instantiate<GateInstance>(plugin, settings, cfg.name + "/" + plugin->name(), origin, use.settings, use.field_path);
    p->rollout = cfg.rollout.policy;
  }
  for (const auto& use : cfg.hooks) {
    auto plugin = registry.require(use.type, HAUL_KIND_HOOK, where + " hooks");
    auto settings = validate_plugin_config(
        *plugin, with_namespace(*plugin, with_store_defaults(*plugin, use.settings, hook_consul, cfg.etcd), cfg), origin,
        use.field_path);
    p->hooks.push_back(
        instantiate<HookInstance>(plugin, settings, cfg.name + "/" + plugin->name(), origin, use.settings, use.field_path));
  }
  return p;
}

}  // namespace haul
