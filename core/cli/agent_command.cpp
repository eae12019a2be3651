// `haul agent --config haul.yaml`: the long-running agent. Builds every
// pipeline first (so a config error — every one of the file, at once —
// stops it before anything runs), then serves them all until SIGTERM/SIGINT,
// finishing a deploy in progress. `--check` only checks the file (haul check).
#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>
#include <memory>

#include "agent/agent.hpp"
#include "cli/cli_common.hpp"
#include "cli/shutdown_signals.hpp"
#include "pipeline/load_pipelines.hpp"
#include "util/error.hpp"
#include "util/pid_lock.hpp"
#include "version.hpp"

namespace po = boost::program_options;

namespace haul {

int run_agent_command(const Args& args) {
  po::options_description desc("haul agent --config FILE");
  desc.add_options()
      ("config", po::value<std::string>(), "pipeline config (YAML); see examples/pipelines/")
      ("check", "only check the config, as haul check does: every mistake at once, every plugin built with its "
                "settings, nothing started; exit 0 or 2");
  desc.add(common_options());
  try {
    auto vm = parse_args(args, desc);
    if (vm.count("help")) {
      std::cout << desc << "\n";
      return 0;
    }
    if (!vm.count("config")) throw Error("haul agent needs --config FILE (see examples/pipelines/agent.yaml)");
    if (vm.count("check")) return run_config_check(vm["config"].as<std::string>());
    StopSignal stop, abort;
    ShutdownSignals signals(stop, &abort);
    // The whole file is checked before this agent takes its state_dir or
    // becomes the long-running host (whose status hooks start a heartbeat
    // as they are built); a file with mistakes is still built, without
    // either, to find every plugin that refuses its settings.
    LoadedPipelines loaded = check_pipelines(vm["config"].as<std::string>());
    LoadOptions load;
    load.state = loaded.ok();
    std::unique_ptr<PidLock> state_lock;
    if (loaded.ok()) {
      const HaulConfig& cfg = loaded.config;
      const std::string state_dir = cfg.state_dir.empty() ? load.default_state_dir : cfg.state_dir;
      // Two agents on one state_dir would both apply every event.
      state_lock = std::make_unique<PidLock>(std::filesystem::path(state_dir) / "agent.lock");
      if (!state_lock->try_lock())
        throw Error("another haul agent (" + state_lock->holder() + ") already runs with state_dir " + state_dir +
                    " (" + cfg.origin + "): two agents would apply every event twice. Stop it first "
                    "(systemctl stop haul-agent), or give this one a state_dir of its own");
      set_long_running_host(true);  // heartbeats are the agent's
    }
    build_pipelines(loaded, load);
    if (!loaded.ok()) throw loaded.errors.error();
    const HaulConfig& cfg = loaded.config;
    const std::vector<std::unique_ptr<Pipeline>>& pipelines = loaded.pipelines;
    const std::string& state_dir = loaded.state_dir;
    std::string names;
    for (const auto& p : pipelines) names += (names.empty() ? "" : ", ") + p->name + " (" + p->trigger->plugin().name() + ")";
    spdlog::info("haul {} agent running {} pipeline(s): {}; state in {}", HAUL_VERSION, pipelines.size(), names,
                 state_dir);
    Metrics metrics;
    AgentOptions options;
    options.metrics = &metrics;
    options.metrics_textfile = cfg.metrics_textfile;
    std::unique_ptr<MetricsServer> metrics_server;
    if (!cfg.metrics_listen.empty()) {
      metrics_server = std::make_unique<MetricsServer>(cfg.metrics_listen, metrics);
      spdlog::info("metrics on http://{}/metrics", cfg.metrics_listen);
    }
    AgentSummary s = run_agent(pipelines, stop, abort, options);
    spdlog::info("agent stopped after {} deploy(s), {} failed", s.deploys, s.failures);
    if (s.interrupted) return 1;  // a deploy was aborted: a supervisor should know
    return stop.raised() || (s.failures == 0 && s.trigger_errors == 0) ? 0 : 1;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 2;
  }
}

}  // namespace haul
