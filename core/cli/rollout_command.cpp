// `haul rollout status|halt|resume --config F [--pipeline P] [--release R]`:
// an operator's hand on a fleet-wide rollout, through the pipeline's gate
// plugin (the same store the agents coordinate through). Without --release,
// halt and resume act on the pipeline's newest rollout; status lists all.
#include <iostream>

#include "cli/cli_common.hpp"
#include "cli/rollout_report.hpp"
#include "pipeline/pipeline.hpp"
#include "util/error.hpp"

namespace po = boost::program_options;

namespace haul {

int run_rollout(const Args& args) {
  po::options_description desc("haul rollout status|halt|resume --config FILE [--pipeline P] [--release R]");
  desc.add_options()
      ("verb", po::value<std::string>(), "status, halt or resume (positional)")
      ("config", po::value<std::string>(), "the agents' config; the pipeline's rollout: block says where rollouts live")
      ("pipeline", po::value<std::string>(), "which pipeline of --config")
      ("release", po::value<std::string>(), "the release's rollout (default: status: every one; halt/resume: the newest)")
      ("reason", po::value<std::string>(), "halt: why, shown to every node and in status")
      ("json", "status: print the gate's JSON for scripts");
  desc.add(common_options());
  return run_command(args, desc, {"verb"}, [&](const po::variables_map& vm) {
    const std::string verb = vm.count("verb") ? vm["verb"].as<std::string>() : "";
    if (verb != "status" && verb != "halt" && verb != "resume")
      throw UsageError("haul rollout needs status, halt or resume, e.g. haul rollout status --config /etc/haul/agent.yaml" +
                       (verb.empty() ? std::string() : "; got '" + verb + "'"));
    if (!vm.count("config"))
      throw UsageError("haul rollout needs --config FILE: the agents' config, whose pipeline has a rollout: block");
    const auto selected = select_pipeline(vm);
    if (!selected.pipeline.rollout.enabled)
      throw UsageError(selected.config.origin + ": pipeline " + selected.pipeline.name +
                       " has no rollout: block, so its nodes deploy without a gate");
    auto pipeline = wire_pipeline(selected);
    const std::string release = vm.count("release") ? vm["release"].as<std::string>() : "";
    const std::string reason = vm.count("reason") ? vm["reason"].as<std::string>() : "";
    const auto answer = nlohmann::json::parse(pipeline->gate->control(verb, pipeline->name, release, reason));
    if (vm.count("json")) {
      std::cout << answer.dump(2) << "\n";
      return 0;
    }
    if (verb != "status") {
      const auto& r = answer["rollouts"].at(0);
      std::cout << (verb == "halt" ? "halted" : "resumed") << " the rollout of release " << r.value("release", "")
                << " (pipeline " << pipeline->name << ")\n";
    }
    const bool halted = print_rollouts(std::cout, pipeline->name, answer, verb == "status");
    return verb == "status" && halted ? 1 : 0;
  }, "haul rollout: ");
}

}  // namespace haul
