// SPDX-License-Identifier: Apache-2.0
// `haul rollout status|halt|resume [--config F] [--pipeline P] [--release R]`:
// an operator's hand on a fleet-wide rollout, through the pipeline's gate
// plugin (the same store the agents coordinate through). Without --release,
// halt and resume act on the pipeline's newest rollout; status lists all.
// Without --config, --pipeline names the rollouts and --consul/--etcd (else
// CONSUL_HTTP_ADDR, else Consul on 127.0.0.1:8500) where they live, with
// the gates' default prefix — what the hints haul prints need to run as
// pasted.
#include <cstdlib>
#include <filesystem>
#include <future>
#include <iostream>
#include <sstream>

#include "cli/cli_common.hpp"
#include "cli/rollout_report.hpp"
#include "net/etcd_api.hpp"
#include "pipeline/pipeline.hpp"
#include "util/error.hpp"
#include "util/units.hpp"

namespace po = boost::program_options;

namespace haul {
namespace {

std::string flag(const po::variables_map& vm, const char* name) {
  return vm.count(name) ? vm[name].as<std::string>() : "";
}

// The gate of a pipeline named on the command line, with the store the
// flags name: what the agents' config would have said.
std::unique_ptr<Pipeline> gate_from_flags(const po::variables_map& vm, std::string& where) {
  if (!vm.count("pipeline"))
    throw UsageError("haul rollout needs --config FILE (the agents' config), or --pipeline NAME with where its rollouts "
                     "live: --consul ADDR (default CONSUL_HTTP_ADDR, then 127.0.0.1:8500) or --etcd URL,...");
  PipelineConfig p = default_config(DeployOptions{}).pipelines.front();
  p.name = flag(vm, "pipeline");
  p.rollout.enabled = true;
  const bool etcd = vm.count("etcd") > 0;
  p.rollout.gate.type = etcd ? "etcd-rollout" : "consul-rollout";
  p.rollout.gate.field_path = "(command line)";
  YAML::Node settings(YAML::NodeType::Map);
  std::map<std::string, std::string> fields;
  if (etcd) {
    std::istringstream lines(net::etcd_endpoint_lines(flag(vm, "etcd")));
    for (std::string e; std::getline(lines, e);)
      if (!e.empty()) settings["endpoints"].push_back(e);
    add_etcd_auth_flags(vm, fields);
    where = " --etcd " + shell_quoted(flag(vm, "etcd"));
  } else {
    if (vm.count("consul")) settings["address"] = flag(vm, "consul"), where = " --consul " + shell_quoted(flag(vm, "consul"));
    if (vm.count("token")) fields["token"] = flag(vm, "token");
  }
  if (vm.count("prefix")) settings["prefix"] = flag(vm, "prefix"), where += " --prefix " + shell_quoted(flag(vm, "prefix"));
  for (const auto& [k, v] : fields) settings[k] = v;
  p.rollout.gate.settings = settings;
  const auto registry = load_registry();
  return build_pipeline(p, registry, "(command line)", false);
}

}  // namespace

int run_rollout(const Args& args) {
  po::options_description desc("haul rollout status|halt|resume [--config FILE] [--pipeline P] [--release R]");
  desc.add_options()
      ("verb", po::value<std::string>(), "status, halt or resume (positional)")
      ("config", po::value<std::string>(), "the agents' config; the pipeline's rollout: block says where rollouts live")
      ("pipeline", po::value<std::string>(), "which pipeline (of --config, or the rollouts' pipeline without it)")
      ("release", po::value<std::string>(), "the release's rollout (default: status: every one; halt/resume: the newest)")
      ("reason", po::value<std::string>(), "halt: why, shown to every node and in status")
      ("consul", po::value<std::string>(), "without --config: Consul's address (default: CONSUL_HTTP_ADDR, then "
       "127.0.0.1:8500)")
      ("token", po::value<std::string>(), "without --config: Consul ACL token (default: CONSUL_HTTP_TOKEN)")
      ("etcd", po::value<std::string>(), "without --config: the rollouts are in etcd at these client URLs (comma-separated)")
      ("etcd-user", po::value<std::string>(), "etcd user, as USER or USER:PASSWORD (default: ETCDCTL_USER)")
      ("etcd-password", po::value<std::string>(), "its password (default: ETCDCTL_PASSWORD, ETCD_PASSWORD)")
      ("prefix", po::value<std::string>(), "without --config: the gates' KV prefix (default haul)")
      ("timeout", po::value<std::string>()->default_value("10s"), "give up when the store does not answer within this long")
      ("json", "status: print the gate's JSON for scripts");
  desc.add(common_options());
  return run_command(args, desc, {"verb"}, [&](const po::variables_map& vm) {
    const std::string verb = flag(vm, "verb");
    if (verb != "status" && verb != "halt" && verb != "resume")
      throw UsageError("haul rollout needs status, halt or resume, e.g. haul rollout status --config /etc/haul/agent.yaml" +
                       (verb.empty() ? std::string() : "; got '" + verb + "'"));
    std::string where;
    std::unique_ptr<Pipeline> pipeline;
    if (vm.count("config")) {
      for (const char* only_without : {"consul", "token", "etcd", "etcd-user", "etcd-password", "prefix"})
        if (vm.count(only_without))
          throw UsageError(std::string("--") + only_without + " is for haul rollout without --config; with --config, its "
                           "pipeline's rollout: block says where the rollouts live");
      const auto selected = select_pipeline(vm);
      if (!selected.pipeline.rollout.enabled)
        throw UsageError(selected.config.origin + ": pipeline " + selected.pipeline.name +
                         " has no rollout: block, so its nodes deploy without a gate");
      pipeline = wire_pipeline(selected);
      where = " --config " + shell_quoted(std::filesystem::absolute(flag(vm, "config")).lexically_normal().string());
    } else {
      pipeline = gate_from_flags(vm, where);
    }
    const auto timeout = parse_duration(flag(vm, "timeout"));
    if (!timeout) throw UsageError("--timeout: expected a duration like 10s, got '" + flag(vm, "timeout") + "'");
    // The gate's calls have no deadline of their own to give: a stalled
    // store must not hang an operator's command (nor monitoring's).
    auto control = std::async(std::launch::async, [&] {
      return pipeline->gate->control(verb, pipeline->name, flag(vm, "release"), flag(vm, "reason"));
    });
    if (control.wait_for(*timeout) != std::future_status::ready) {
      std::cerr << "haul rollout: the rollouts' store (" << pipeline->gate->plugin().name() << ") did not answer within "
                << format_duration(*timeout) << " (--timeout D waits longer)" << std::endl;
      std::_Exit(2);  // the call still blocks its thread; nothing of this process needs tidying
    }
    const auto answer = nlohmann::json::parse(control.get());
    if (vm.count("json")) {
      std::cout << answer.dump(2) << "\n";
      return 0;
    }
    if (verb != "status") {
      const auto& r = answer["rollouts"].at(0);
      std::cout << (verb == "halt" ? "halted" : "resumed") << " the rollout of release " << r.value("release", "")
                << " (pipeline " << pipeline->name << ")\n";
    }
    const bool halted = print_rollouts(std::cout, pipeline->name, answer, verb == "status", where);
    return verb == "status" && halted ? 1 : 0;
  }, "haul rollout: ", /*failed_code=*/2);  // 1 is "halted"
}

}  // namespace haul
