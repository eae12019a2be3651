// SPDX-License-Identifier: Apache-2.0
#include "pipeline/pipeline.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <optional>

#include "config/yaml_util.hpp"
#include "plugin/config_schema.hpp"
#include "signing/manifest_signature.hpp"
#include "util/error.hpp"

namespace haul {

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

// A new map holding settings' own key and value nodes: it takes more keys
// without touching the file's document and keeps each one's place in the
// file (YAML::Clone drops the places: every mistake would be at 1:1).
YAML::Node map_sharing(const YAML::Node& settings) {
  YAML::Node merged(YAML::NodeType::Map);
  if (settings.IsMap())
    for (const auto& kv : settings) merged.force_insert(kv.first, kv.second);
  return merged;
}

// A consul-* (etcd-*) plugin's settings, with the connection fields it
// leaves unset taken from `fallback` (the file's consul: or etcd: block) —
// only fields the plugin declares.
YAML::Node with_connection_defaults(const LoadedPlugin& plugin, const YAML::Node& settings, const YAML::Node& fallback,
                                    const std::string& family, const std::vector<std::string>& keys) {
  const bool of_family = plugin.name().rfind(family, 0) == 0 || plugin.name() + "-" == family;  // "etcd" is one too
  if (!of_family || !fallback.IsDefined() || !fallback.IsMap()) return settings;
  YAML::Node merged = map_sharing(settings);
  for (const auto* field : plugin.fields()) {
    const std::string key = field->name;
    if (std::find(keys.begin(), keys.end(), key) == keys.end() || (settings.IsMap() && settings[key].IsDefined())) continue;
    for (const auto& kv : fallback)
      if (kv.first.Scalar() == key) merged.force_insert(kv.first, kv.second);  // where the block sets it
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
  YAML::Node merged = map_sharing(settings);
  merged.force_insert("namespace", status_namespace_of(cfg));
  return merged;
}

// The place of a plugin refusing its settings: the key its reason starts
// with ("heartbeat_ttl must be at least 10s") when the file sets it, else
// where the plugin is named.
std::string refusal_place(const std::string& reason, const PluginUse& use, const LoadedPlugin& plugin,
                          const std::string& origin) {
  if (use.settings.IsMap())
    for (const auto* field : plugin.fields()) {
      const std::string key = field->name;
      const bool starts = reason.compare(0, key.size(), key) == 0 &&
                          (reason.size() == key.size() || reason[key.size()] == ' ' || reason[key.size()] == ':');
      if (!starts) continue;
      for (const auto& kv : use.settings)
        if (kv.first.Scalar() == key) return yaml_where(origin, kv.first) + ": " + use.field_path + "." + key;
    }
  return yaml_where(origin, use.place) + ": " + use.field_path;
}

// One pipeline's plugins: each found among its kind and its settings
// checked; with `construct`, each made an instance. Every mistake goes to
// errors and the next plugin is looked at, so one run names them all.
class PipelineAssembly {
 public:
  PipelineAssembly(const PipelineConfig& cfg, const PluginRegistry& registry, const std::string& origin,
                   ConfigErrors& errors, bool construct)
      : cfg_(cfg), registry_(registry), origin_(origin), errors_(errors), construct_(construct) {}

  struct Checked {
    std::shared_ptr<LoadedPlugin> plugin;
    PluginSettings settings;
  };

  // use's plugin, of kind, with its settings (completed from the consul:
  // and etcd: blocks, and a hook's from the pipeline's namespace) checked;
  // nullopt when either is wrong.
  std::optional<Checked> check(const PluginUse& use, haul_kind kind, const YAML::Node& consul,
                               const std::vector<std::string>& reserved = {"type"}, const std::string& context = "") {
    Checked c;
    const bool found = errors_.collect([&] {
      c.plugin = registry_.require(use.type, kind, yaml_where(origin_, use.place) + ": " + use.field_path + context);
    });
    if (!found) return std::nullopt;
    const YAML::Node stored = with_store_defaults(*c.plugin, use.settings, consul, cfg_.etcd);
    const YAML::Node settings = kind == HAUL_KIND_HOOK ? with_namespace(*c.plugin, stored, cfg_) : stored;
    ConfigErrors mistakes(origin_);
    c.settings = validate_plugin_config(*c.plugin, settings, origin_, use.field_path, reserved, mistakes, use.place);
    for (const auto& m : mistakes.messages()) errors_.add(m);
    if (!mistakes.empty()) return std::nullopt;
    return c;
  }

  // The instance, when constructing; a plugin that refuses its settings (two
  // keys that go together, a size it cannot use) is a mistake in the file,
  // said at the place it was written.
  template <class Instance>
  std::unique_ptr<Instance> make(const std::optional<Checked>& c, const PluginUse& use, const std::string& pipeline) {
    if (!c || !construct_) return nullptr;
    try {
      return std::make_unique<Instance>(c->plugin, c->settings, pipeline + "/" + c->plugin->name());
    } catch (const Error& e) {
      const std::string what = e.what();
      const std::string marker = "refused its settings: ";
      const size_t at = what.find(marker);
      const std::string reason = at == std::string::npos ? what : what.substr(at + marker.size());
      errors_.add(refusal_place(reason, use, *c->plugin, origin_) + ": " + what);
      return nullptr;
    }
  }

 private:
  const PipelineConfig& cfg_;
  const PluginRegistry& registry_;
  const std::string& origin_;
  ConfigErrors& errors_;
  bool construct_;
};

// Where deploy.trusted_keys is written ("origin: pipeline P" when it came from flags).
std::string trusted_keys_place(const PipelineConfig& cfg, const std::string& origin) {
  const YAML::Node& node = cfg.node;
  if (node.IsMap() && node["deploy"].IsMap() && node["deploy"]["trusted_keys"].IsDefined())
    return yaml_where(origin, node["deploy"]["trusted_keys"]) + ": pipelines." + cfg.name + ".deploy.trusted_keys";
  return origin + ": pipeline " + cfg.name + " deploy.trusted_keys";
}

std::unique_ptr<Pipeline> assemble(const PipelineConfig& cfg, const PluginRegistry& registry, const std::string& origin,
                                   ConfigErrors& all_errors, bool construct, bool with_trigger,
                                   const std::string& state_dir) {
  ConfigErrors errors(origin);  // this pipeline's, to tell whether it is whole
  PipelineAssembly a(cfg, registry, origin, errors, construct);
  auto p = std::make_unique<Pipeline>();
  p->name = cfg.name;
  p->deploy = cfg.deploy;
  p->desired = cfg.desired;
  p->reconcile_interval = cfg.reconcile_interval;
  p->owner.siblings = cfg.siblings;
  // A path, as given to --config: recorded beside each dest it deploys.
  if (origin.find('(') == std::string::npos) p->owner.config = std::filesystem::absolute(origin).lexically_normal().string();
  // A missing or unreadable trusted key is a config error now, not at the first event.
  errors.collect([&] {
    try {
      TrustedKeys::load(cfg.deploy.trusted_keys);
    } catch (const Error& e) {
      throw Error(trusted_keys_place(cfg, origin) + ": " + e.what());
    }
  });
  if (!cfg.trigger.type.empty()) {
    auto trigger = a.check(cfg.trigger, HAUL_KIND_TRIGGER, cfg.consul);
    if (with_trigger) p->trigger = a.make<TriggerInstance>(trigger, cfg.trigger, cfg.name);
  }
  for (const auto& named : cfg.sources)  // not a structured binding: C++17 lambdas cannot capture one
    errors.collect([&] {
      registry.require(named.first, HAUL_KIND_SOURCE, yaml_where(origin, named.second.place) + ": " + named.second.field_path);
    });
  for (const auto& plugin : registry.of_kind(HAUL_KIND_SOURCE)) {
    auto it = cfg.sources.find(plugin->name());
    PluginUse use = it == cfg.sources.end()
                        ? PluginUse{plugin->name(), YAML::Node(), "pipelines." + cfg.name + ".sources." + plugin->name(), YAML::Node()}
                        : it->second;
    auto source = a.make<SourceInstance>(a.check(use, HAUL_KIND_SOURCE, cfg.consul, {}), use, cfg.name);
    if (source) p->sources.add(std::move(source));
  }
  // Hooks take the consul: block, else the pipeline's consul-http trigger's
  // connection: a status written where the events come from.
  // (Made once: assigning to a copy of cfg.consul would write through it.)
  const bool no_consul_block = !cfg.consul.IsDefined() || cfg.consul.IsNull();
  const YAML::Node hook_consul = no_consul_block && cfg.trigger.type == "consul-http" ? cfg.trigger.settings : cfg.consul;
  if (cfg.rollout.enabled) {
    const PluginUse& use = cfg.rollout.gate;
    const std::string via = " (via: " + use.type.substr(0, use.type.size() - 8) + ")";
    p->gate = a.make<GateInstance>(a.check(use, HAUL_KIND_GATE, hook_consul, rollout_policy_keys(), via), use, cfg.name);
    p->rollout = cfg.rollout.policy;
  }
  for (const auto& use : cfg.hooks) {
    auto hook = a.make<HookInstance>(a.check(use, HAUL_KIND_HOOK, hook_consul), use, cfg.name);
    if (hook) p->hooks.push_back(std::move(hook));
  }
  if (construct && !state_dir.empty())
    errors.collect([&] { p->applied = std::make_unique<AppliedEvents>(state_dir, cfg.name); });
  const bool whole = errors.empty();
  for (const auto& m : errors.messages()) all_errors.add(m);
  if (!construct || !whole) return nullptr;
  return p;
}

}  // namespace

std::unique_ptr<Pipeline> build_pipeline(const PipelineConfig& cfg, const PluginRegistry& registry,
                                         const std::string& origin, bool with_trigger, const std::string& state_dir) {
  ConfigErrors errors(origin);
  auto p = build_pipeline(cfg, registry, origin, errors, with_trigger, state_dir);
  errors.throw_if_any();
  return p;
}

std::unique_ptr<Pipeline> build_pipeline(const PipelineConfig& cfg, const PluginRegistry& registry,
                                         const std::string& origin, ConfigErrors& errors, bool with_trigger,
                                         const std::string& state_dir) {
  return assemble(cfg, registry, origin, errors, /*construct=*/true, with_trigger, state_dir);
}

void check_pipeline(const PipelineConfig& cfg, const PluginRegistry& registry, const std::string& origin,
                    ConfigErrors& errors) {
  assemble(cfg, registry, origin, errors, /*construct=*/false, /*with_trigger=*/false, "");
}

}  // namespace haul
