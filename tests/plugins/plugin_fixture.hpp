// Loads the real first-party plugins from the build tree (plus the test
// fixtures) and instantiates them in-process, as the core does.
#pragma once

#include "deploy/fetcher.hpp"
#include "plugin/config_schema.hpp"
#include "plugin/instance.hpp"
#include "plugin/registry.hpp"
#include "test_support.hpp"

namespace haul::test {

inline const PluginRegistry& registry() {
  static PluginRegistry reg = [] {
    PluginRegistry r;
    r.load_dir(build_dir() / "plugins");
    r.load_file(fs::path(HAUL_TEST_FIXTURE_PLUGIN_DIR) / "flaky_source.so");
    return r;
  }();
  return reg;
}

template <class Instance>
std::unique_ptr<Instance> instantiate(const std::string& name, const std::string& yaml = "") {
  auto plugin = registry().find(name);
  if (!plugin) throw std::runtime_error("plugin " + name + " not built");
  auto settings = validate_plugin_config(*plugin, YAML::Load(yaml.empty() ? "{}" : yaml), "test", name, {});
  return std::make_unique<Instance>(plugin, settings, "test/" + name);
}

inline SourceSet all_sources() {
  SourceSet set;
  for (const auto& p : registry().of_kind(HAUL_KIND_SOURCE)) set.add(instantiate<SourceInstance>(p->name()));
  return set;
}

}  // namespace haul::test
