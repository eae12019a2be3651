// SPDX-License-Identifier: Apache-2.0
// `haul check FILE` (and `haul agent --check --config FILE`): the agent's
// start-up without the running — the file parsed, every plugin found and
// built with its settings, every mistake of the file named at once — so a
// config is checked before the agent is restarted with it. No trigger starts
// watching and nothing is recorded (see load_pipelines).
#include <iostream>

#include "cli/cli_common.hpp"
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
      "haul check FILE   (check a pipeline config: every plugin built with its settings, nothing started; "
      "exit 0, or 2 with every mistake)");
  desc.add_options()("config", po::value<std::string>(), "the pipeline config (positional)");
  desc.add(common_options());
  return run_command(
      args, desc, {"config"},
      [](const po::variables_map& vm) {
        if (!vm.count("config")) throw UsageError("haul check needs a config file, e.g. haul check /etc/haul/agent.yaml");
        return run_config_check(vm["config"].as<std::string>());
      },
      "", 2);
}

}  // namespace haul
