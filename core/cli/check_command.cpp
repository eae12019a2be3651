// SPDX-License-Identifier: Apache-2.0
// `haul check FILE` (and `haul agent --check --config FILE`): the agent's
// start-up without the running — the file parsed, every plugin found and
// built with its settings, every mistake of the file named at once — so a
// config is checked before the agent is restarted with it. No trigger starts
// watching and nothing is recorded (see load_pipelines). A manifest given
// instead is checked as a deploy would read it.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>

#include "cli/cli_common.hpp"
#include "config/manifest.hpp"
#include "pipeline/load_pipelines.hpp"
#include "util/error.hpp"
#include "util/units.hpp"

namespace po = boost::program_options;

namespace haul {
namespace {

std::string hooks_of(const Pipeline& p) {
  std::string names;
  for (const auto& h : p.hooks) names += (names.empty() ? "" : ", ") + h->plugin().name();
  return names.empty() ? "none" : names;
}

std::string rollout_of(const Pipeline& p) {
  if (!p.gate) return "none: every node deploys at once";
  const haul_rollout_policy& r = p.rollout;
  const std::string parallel =
      r.max_parallel ? std::to_string(r.max_parallel) : std::to_string(r.max_parallel_percent) + "%";
  return p.gate->plugin().name() + ": canary " + std::to_string(r.canary) + " (soak " +
         format_duration(std::chrono::milliseconds(r.canary_soak_ms)) + "), max_parallel " + parallel +
         ", max_failures " + std::to_string(r.max_failures) + ", on_halt " + (r.rollback_on_halt ? "rollback" : "stay");
}

std::string desired_of(const Pipeline& p) {
  if (p.desired.empty()) return "none";
  return p.desired + " (checked every " + format_duration(p.reconcile_interval) + ")";
}

void print_summary(const LoadedPipelines& loaded) {
  std::cout << loaded.config.origin << ": OK, " << count_of(loaded.pipelines.size(), "pipeline", "pipelines")
            << ", every plugin built with its settings\n";
  for (const auto& p : loaded.pipelines) {
    std::cout << p->name << "\n"
              << "  trigger  " << p->trigger->plugin().name() << "\n"
              << "  hooks    " << hooks_of(*p) << "\n"
              << "  rollout  " << rollout_of(*p) << "\n"
              << "  desired  " << desired_of(*p) << "\n";
  }
}

// A manifest, not a pipeline config: no `pipelines:` at the top, and one of
// the manifest's own keys there. Judged on the text, before templates.
bool looks_like_manifest(const std::string& text) {
  static const std::regex pipelines("(^|\n)pipelines:"), manifest_key("(^|\n)(src|checksum|dest|commands|sync_strategy):");
  return !std::regex_search(text, pipelines) && std::regex_search(text, manifest_key);
}

std::string list_of(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

int check_manifest(const std::string& path, const std::string& text, bool strict) {
  ManifestChecks checks;
  checks.strict = strict;
  Manifest m;
  try {
    m = parse_manifest(text, path, process_env, checks);
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 2;
  }
  std::cout << path << ": a manifest, OK as a deploy reads it\n";
  if (m.src.empty())
    std::cout << "  src        none: commands only\n";
  else
    std::cout << "  src        " << m.src << " (" << m.checksum_algorithm() << " checksum)\n";
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", m.dest_mode);
  std::cout << "  dest       " << m.dest << " (sync_strategy " << to_string(m.sync_strategy) << ", dest_mode " << mode
            << ")\n";
  if (!m.release.empty()) std::cout << "  release    " << m.release << "\n";
  std::string phases;
  for (const auto& phase : Commands::phases()) {
    const auto* list = m.commands.of(phase);
    if (list && !list->empty()) phases += (phases.empty() ? "" : ", ") + phase + " " + std::to_string(list->size());
  }
  std::cout << "  commands   " << (phases.empty() ? "none" : phases) << "\n";
  if (!m.excludes.empty() || !m.exclude_from.empty())
    std::cout << "  excludes   " << list_of(m.excludes)
              << (m.exclude_from.empty() ? "" : (m.excludes.empty() ? "" : "; ") + std::string("from ") + m.exclude_from)
              << "\n";
  if (!m.ignored_fields.empty())
    std::cout << "  ignored    " << list_of(m.ignored_fields)
              << " (unknown fields, ignored as stretcher did; --strict refuses them)\n";
  return 0;
}

}  // namespace

int run_config_check(const std::string& path) {
  const LoadedPipelines loaded = load_pipelines(path);
  if (!loaded.ok()) {
    std::cerr << loaded.errors.error().what() << "\n";
    return 2;
  }
  print_summary(loaded);
  return 0;
}

int run_check(const Args& args) {
  po::options_description desc(
      "haul check FILE   (check a pipeline config — every plugin built with its settings, nothing started — or a "
      "manifest; exit 0, or 2 with every mistake)");
  desc.add_options()("config", po::value<std::string>(), "the pipeline config or manifest (positional)")(
      "strict", "a manifest: refuse every unknown field, as deploy --strict does");
  desc.add(common_options());
  return run_command(
      args, desc, {"config"},
      [](const po::variables_map& vm) {
        if (!vm.count("config")) throw UsageError("haul check needs a config file, e.g. haul check /etc/haul/agent.yaml");
        const std::string path = vm["config"].as<std::string>();
        std::ifstream in(path, std::ios::binary);
        std::ostringstream text;
        text << in.rdbuf();
        if (in && looks_like_manifest(text.str())) return check_manifest(path, text.str(), vm.count("strict") > 0);
        return run_config_check(path);
      },
      "", 2);
}

}  // namespace haul
