// SPDX-License-Identifier: Apache-2.0
// `haul agent --config haul.yaml`: the long-running agent. Builds every
// pipeline first (so a config error — every one of the file, at once —
// stops it before anything runs), then serves them all until SIGTERM/SIGINT,
// finishing a deploy in progress; SIGHUP reloads the file. `--check` only
// checks the file (haul check).
#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <mutex>

#include "agent/agent.hpp"
#include "cli/cli_common.hpp"
#include "cli/shutdown_signals.hpp"
#include "pipeline/load_pipelines.hpp"
#include "util/error.hpp"
#include "util/pid_lock.hpp"
#include "version.hpp"

namespace po = boost::program_options;

namespace haul {
namespace {

// Where this machine keeps an agent config, for `haul agent` without one:
// PREFIX/etc/haul beside the binary's PREFIX/bin (/etc/haul for /usr, as
// the package and install_server_files.cmake put it).
std::string agent_config_hint() {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  fs::path prefix = exe.parent_path().parent_path();
  const fs::path etc = (prefix.filename() == "usr" ? prefix.parent_path() : prefix) / "etc/haul";
  if (!ec && fs::exists(etc / "agent.yaml"))
    return "this machine has " + (etc / "agent.yaml").string() + ": haul agent --config " + (etc / "agent.yaml").string();
  if (!ec && fs::exists(etc / "agent.yaml.example"))
    return "start from " + (etc / "agent.yaml.example").string() + " (copy it to " + (etc / "agent.yaml").string() +
           ", edit it, haul check it)";
  return "see examples/pipelines/agent.yaml in haul's source";
}

std::string pipeline_names(const LoadedPipelines& loaded) {
  std::string names;
  for (const auto& p : loaded.pipelines)
    names += (names.empty() ? "" : ", ") + p->name + " (" + p->trigger->plugin().name() + ")";
  return names;
}

}  // namespace

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
    if (!vm.count("config")) throw UsageError("haul agent needs --config FILE; " + agent_config_hint());
    if (vm.count("check")) return run_config_check(vm["config"].as<std::string>());
    const std::string path = vm["config"].as<std::string>();
    // SIGHUP reloads (as Consul and Nomad do): the new file is checked whole
    // on the signal's thread; when it is good, the running pipelines finish
    // what they deploy and stop, and the new set is built in their place.
    // A file with a mistake changes nothing: the log says why.
    std::mutex reload_mu;
    std::unique_ptr<LoadedPipelines> reload;  // checked, not yet built
    StopSignal* running = nullptr;             // the current generation's stop
    std::string state_dir;
    auto on_hangup = [&] {
      spdlog::info("received SIGHUP: checking {} to reload it", path);
      auto next = std::make_unique<LoadedPipelines>(check_pipelines(path));
      if (!next->ok()) {
        spdlog::error("config reload refused, the running config stays: {}", next->errors.error().what());
        return;
      }
      const std::string next_dir = next->config.state_dir.empty() ? LoadOptions{}.default_state_dir : next->config.state_dir;
      std::lock_guard<std::mutex> lock(reload_mu);
      if (next_dir != state_dir) {
        spdlog::error("config reload refused, the running config stays: state_dir changed from {} to {}; moving it "
                      "takes a restart (systemctl restart haul-agent)", state_dir, next_dir);
        return;
      }
      spdlog::info("config reload: {} is good; deploys in progress finish first (one waiting to start gives up and "
                   "starts again under the new config)", path);
      reload = std::move(next);
      if (running) running->raise();
    };
    StopSignal stop, abort;
    ShutdownSignals signals(stop, &abort, on_hangup);
    // The whole file is checked before this agent takes its state_dir or
    // becomes the long-running host (whose status hooks start a heartbeat
    // as they are built); a file with mistakes is still built, without
    // either, to find every plugin that refuses its settings.
    LoadedPipelines loaded = check_pipelines(path);
    LoadOptions load;
    load.state = loaded.ok();
    std::unique_ptr<PidLock> state_lock;
    if (loaded.ok()) {
      const HaulConfig& cfg = loaded.config;
      const std::string dir = cfg.state_dir.empty() ? load.default_state_dir : cfg.state_dir;
      // Two agents on one state_dir would both apply every event.
      state_lock = std::make_unique<PidLock>(std::filesystem::path(dir) / "agent.lock");
      if (!state_lock->try_lock())
        throw Error("another haul agent (" + state_lock->holder() + ") already runs with state_dir " + dir +
                    ": a second one, with " + cfg.origin + ", would apply every event twice. Stop the first "
                    "(systemctl stop haul-agent), or give this one a state_dir of its own");
      set_long_running_host(true);  // heartbeats are the agent's
    }
    build_pipelines(loaded, load);
    if (!loaded.ok()) throw loaded.errors.error();
    {
      std::lock_guard<std::mutex> lock(reload_mu);
      state_dir = loaded.state_dir;
    }
    spdlog::info("haul {} agent running {} pipeline(s): {}; state in {}", HAUL_VERSION, loaded.pipelines.size(),
                 pipeline_names(loaded), state_dir);
    const HaulConfig first = loaded.config;  // metrics are set up once; a reload keeps them
    Metrics metrics;
    AgentOptions options;
    options.metrics = &metrics;
    options.metrics_textfile = first.metrics_textfile;
    std::unique_ptr<MetricsServer> metrics_server;
    if (!first.metrics_listen.empty()) {
      metrics_server = std::make_unique<MetricsServer>(first.metrics_listen, metrics);
      spdlog::info("metrics on http://{}/metrics", first.metrics_listen);
    }
    AgentSummary total;
    while (true) {
      StopSignal generation;
      {
        std::lock_guard<std::mutex> lock(reload_mu);
        running = &generation;
        if (reload) generation.raise();  // a SIGHUP while the last generation was being built
      }
      const int forward = stop.listen([&generation] { generation.raise(); });
      const AgentSummary s = run_agent(loaded.pipelines, generation, abort, options);
      stop.unlisten(forward);
      std::unique_ptr<LoadedPipelines> next;
      {
        std::lock_guard<std::mutex> lock(reload_mu);
        running = nullptr;
        next.swap(reload);
      }
      total += s;
      if (stop.raised() || !next) break;
      // The old set goes first — its heartbeats end, so the new hooks take
      // the node's keys at once — then the new one is built.
      loaded.pipelines.clear();
      build_pipelines(*next, load);
      if (!next->ok()) {
        spdlog::error("config reload: building the new pipelines failed; going back to the config as it was: {}",
                      next->errors.error().what());
        auto back = std::make_unique<LoadedPipelines>();
        back->config = loaded.config;
        back->registry = loaded.registry;
        build_pipelines(*back, load);
        if (!back->ok()) throw back->errors.error();
        next = std::move(back);
      }
      loaded = std::move(*next);
      spdlog::info("config reloaded: running {} pipeline(s): {}", loaded.pipelines.size(), pipeline_names(loaded));
    }
    spdlog::info("agent stopped after {} deploy(s): {} failed{}", total.deploys + total.interrupted, total.failures,
                 total.interrupted ? ", " + std::to_string(total.interrupted) +
                                         " cut short by the shutdown (not recorded as applied: deployed again at the "
                                         "next start)"
                                   : std::string());
    if (total.interrupted) return 1;  // a deploy was aborted: a supervisor should know
    return stop.raised() || (total.failures == 0 && total.trigger_errors == 0) ? 0 : 1;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 2;
  }
}

}  // namespace haul
