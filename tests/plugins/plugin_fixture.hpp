// SPDX-License-Identifier: Apache-2.0
// Loads the real first-party plugins from the build tree (plus the test
// fixtures) and instantiates them in-process, as the core does.
#pragma once

#include "transfer/fetcher.hpp"
#include "plugin/config_schema.hpp"
#include "plugin/instance.hpp"
#include "plugin/registry.hpp"
#include "test_support.hpp"
#include "util/error.hpp"

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

// One phase of a deploy as a hook sees it, and what the hook logged.
struct Phase {
  std::vector<std::string> commands;
  haul_phase phase = HAUL_PHASE_PRE;
  std::string log_in, error, pipeline = "web", manifest_url = "s3://releases/web.yml", release;
  std::vector<std::pair<std::string, std::string>> env;
  uint64_t started_ms = 0, finished_ms = 0;
  std::vector<std::string> lines;
};

// Calls the hook in-process; returns "" on success, the error otherwise.
inline std::string run(HookInstance& hook, Phase& p) {
  std::vector<const char*> cmds;
  for (const auto& c : p.commands) cmds.push_back(c.c_str());
  std::vector<haul_kv> env;
  for (const auto& [k, v] : p.env) env.push_back({k.c_str(), v.c_str()});
  haul_hook_context ctx{};
  ctx.struct_size = sizeof ctx;
  ctx.phase = p.phase;
  ctx.event_id = ctx.dest = ctx.release_dir = ctx.previous_release_dir = "";
  ctx.pipeline = p.pipeline.c_str();
  ctx.manifest_url = p.manifest_url.c_str();
  ctx.release = p.release.c_str();
  ctx.error = p.error.c_str();
  ctx.node = "test-node";
  ctx.started_at_unix_ms = p.started_ms;
  ctx.finished_at_unix_ms = p.finished_ms;
  ctx.commands = cmds.data();
  ctx.command_count = cmds.size();
  ctx.env = env.data();
  ctx.env_count = env.size();
  ctx.deploy_log = p.log_in.c_str();
  ctx.deploy_log_len = p.log_in.size();
  ctx.log = [](void* c, haul_log_level, const char* m) { static_cast<Phase*>(c)->lines.push_back(m); };
  ctx.log_ctx = &p;
  try {
    hook.on_phase(ctx);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

inline SourceSet all_sources() {
  SourceSet set;
  for (const auto& p : registry().of_kind(HAUL_KIND_SOURCE)) set.add(instantiate<SourceInstance>(p->name()));
  return set;
}

}  // namespace haul::test
