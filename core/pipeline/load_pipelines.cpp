// SPDX-License-Identifier: Apache-2.0
#include "pipeline/load_pipelines.hpp"

namespace haul {

LoadedPipelines check_pipelines(const std::string& path) {
  LoadedPipelines out;
  out.errors = ConfigErrors(path);
  std::string text;
  if (out.errors.collect([&] { text = read_config_file(path); })) out.config = parse_config(text, path, out.errors);
  // The plugin_path as far as it parsed: a plugin it would have added is
  // then reported missing, next to the mistake in plugin_path.
  out.registry = std::make_shared<const PluginRegistry>(load_registry(out.config.plugin_path));
  for (const auto& p : out.config.pipelines) check_pipeline(p, *out.registry, out.config.origin, out.errors);
  return out;
}

void build_pipelines(LoadedPipelines& loaded, const LoadOptions& options) {
  const HaulConfig& config = loaded.config;
  if (options.state) loaded.state_dir = config.state_dir.empty() ? options.default_state_dir : config.state_dir;
  for (const auto& p : config.pipelines) {
    auto built = build_pipeline(p, *loaded.registry, config.origin, loaded.errors, options.triggers, loaded.state_dir);
    if (built) loaded.pipelines.push_back(std::move(built));
  }
  if (!loaded.ok()) loaded.pipelines.clear();  // all or nothing; none of them ever started
}

LoadedPipelines load_pipelines(const std::string& path, const LoadOptions& options) {
  LoadedPipelines loaded = check_pipelines(path);
  build_pipelines(loaded, options);
  return loaded;
}

}  // namespace haul
