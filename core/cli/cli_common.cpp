// SPDX-License-Identifier: Apache-2.0
#include "cli/cli_common.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>

#include "cli/deploy_flags.hpp"
#include "pipeline/load_pipelines.hpp"
#include "util/error.hpp"
#include "util/logging.hpp"

namespace po = boost::program_options;

namespace haul {

po::options_description common_options() {
  po::options_description desc("Common options");
  desc.add_options()
      ("help,h", "show this help")
      ("log-level", po::value<std::string>()->default_value("info"), "debug, info, warn or error")
      ("log-format", po::value<std::string>()->default_value("text"), "text, or json: one object per line");
  return desc;
}

po::variables_map parse_args(const Args& args, const po::options_description& desc,
                             const std::vector<std::string>& positional) {
  po::positional_options_description pos;
  for (const auto& name : positional) pos.add(name.c_str(), 1);
  // Go's flag package takes "-flag=" as an empty value; Program_options
  // wants the value as its own word.
  // And a string flag takes the next word whatever it looks like:
  // stretcher's `-rsync-verbose -v` gives rsync-verbose the value "-v".
  // stretcher's newer releases (kong) spell the bandwidth flag
  // --max-band-width; its older ones (Go's flag package) -max-bandwidth.
  auto stretcher_spelling = [](std::string a) {
    for (const char* alias : {"--max-band-width", "-max-band-width"}) {
      const size_t n = std::strlen(alias);
      if (a.compare(0, n, alias) == 0 && (a.size() == n || a[n] == '=')) return "--max-bandwidth" + a.substr(n);
    }
    return a;
  };
  Args words;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string a = stretcher_spelling(args[i]);
    if (a.size() > 2 && a[0] == '-' && a.back() == '=' && a.find('=') == a.size() - 1) {
      words.push_back(a.substr(0, a.size() - 1));
      words.emplace_back();
    } else if ((a == "-rsync-verbose" || a == "--rsync-verbose") && i + 1 < args.size() && !args[i + 1].empty() &&
               args[i + 1][0] == '-') {
      words.push_back("--rsync-verbose=" + args[++i]);
    } else {
      words.push_back(a);
    }
  }
  po::variables_map vm;
  try {
    auto style = po::command_line_style::default_style | po::command_line_style::allow_long_disguise;
    po::store(po::command_line_parser(words).options(desc).positional(pos).style(style).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError(std::string(e.what()) + " (see haul --help)");
  }
  setup_logging(vm.count("log-level") ? vm["log-level"].as<std::string>() : "info",
                vm.count("log-format") ? vm["log-format"].as<std::string>() : "text");
  return vm;
}

int run_command(const Args& args, const boost::program_options::options_description& desc,
                const std::vector<std::string>& positional,
                const std::function<int(const boost::program_options::variables_map&)>& body,
                const std::string& error_prefix, int failed_code) {
  try {
    const auto vm = parse_args(args, desc, positional);
    if (vm.count("help")) {
      std::cout << desc << "\n";
      return 0;
    }
    return body(vm);
  } catch (const std::exception& e) {
    return exit_code_for(e, error_prefix, failed_code);
  }
}

int exit_code_for(const std::exception& e, const std::string& prefix, int failed_code) {
  spdlog::error("{}{}", prefix, e.what());
  return error_kind(e) == Error::Kind::usage ? 2 : failed_code;
}

namespace {

// A config haul cannot use means haul could not start: exit 2, as for the
// handler and the agent, whichever command read it.
template <class F>
auto as_startup_error(F&& f) {
  try {
    return f();
  } catch (const Error& e) {
    if (e.kind() == Error::Kind::usage) throw;
    throw UsageError(e.what());
  }
}

SelectedPipeline select_pipeline_from(const po::variables_map& vm) {
  SelectedPipeline s;
  if (vm.count("config")) {
    s.config = load_checked_config(vm["config"].as<std::string>());
    const auto& pipelines = s.config.pipelines;
    if (vm.count("pipeline")) {
      const auto name = vm["pipeline"].as<std::string>();
      auto it = std::find_if(pipelines.begin(), pipelines.end(), [&](const auto& p) { return p.name == name; });
      if (it == pipelines.end()) {
        std::string names;
        for (const auto& p : pipelines) names += (names.empty() ? "" : ", ") + p.name;
        throw Error(s.config.origin + ": no pipeline named '" + name + "'; the file has: " + names);
      }
      s.pipeline = *it;
    } else if (pipelines.size() == 1) {
      s.pipeline = pipelines.front();
    } else {
      throw Error(s.config.origin + " has " + std::to_string(pipelines.size()) +
                  " pipelines; choose one with --pipeline NAME");
    }
  } else {
    if (vm.count("pipeline")) throw Error("--pipeline needs --config FILE to choose from");
    s.config = default_config(DeployOptions{});
    s.pipeline = s.config.pipelines.front();
  }
  apply_deploy_flags(vm, s.pipeline.deploy);
  return s;
}

}  // namespace

HaulConfig load_checked_config(const std::string& path) {
  LoadedPipelines loaded = check_pipelines(path);
  if (!loaded.ok()) throw loaded.errors.error();
  return std::move(loaded.config);
}

SelectedPipeline select_pipeline(const po::variables_map& vm) {
  return as_startup_error([&] { return select_pipeline_from(vm); });
}

SelectedPipeline select_pipeline_of(const std::string& path, const std::string& name) {
  SelectedPipeline s;
  s.config = load_checked_config(path);
  const auto& pipelines = s.config.pipelines;
  auto it = std::find_if(pipelines.begin(), pipelines.end(), [&](const auto& p) { return p.name == name; });
  if (it == pipelines.end()) throw Error(s.config.origin + " has no pipeline named '" + name + "' any more");
  s.pipeline = *it;
  return s;
}

std::map<std::string, std::string> consul_connection_of(const HaulConfig& config) {
  YAML::Node node = config.consul;
  if (!node.IsDefined() || node.IsNull())
    for (const auto& p : config.pipelines)
      if (p.trigger.type == "consul-http") {
        node = p.trigger.settings;
        break;
      }
  std::map<std::string, std::string> out;
  if (!node.IsDefined() || !node.IsMap()) return out;
  for (const auto& key : consul_connection_keys())
    if (node[key].IsDefined() && node[key].IsScalar()) out[key] = node[key].Scalar();
  return out;
}

std::map<std::string, std::string> etcd_connection_of(const HaulConfig& config) {
  std::map<std::string, std::string> out;
  const YAML::Node& etcd = config.etcd;
  if (!etcd.IsDefined() || !etcd.IsMap()) return out;
  for (const auto& key : etcd_connection_keys()) {
    const YAML::Node v = etcd[key];
    if (!v.IsDefined()) continue;
    if (v.IsScalar()) out[key] = v.Scalar();
    for (size_t i = 0; v.IsSequence() && i < v.size(); ++i) out[key] += (i ? "\n" : "") + v[i].Scalar();
  }
  return out;
}

void add_etcd_auth_flags(const po::variables_map& vm, std::map<std::string, std::string>& fields) {
  auto env = [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    return v && *v ? std::optional<std::string>(v) : std::nullopt;
  };
  std::optional<std::string> user = vm.count("etcd-user") ? vm["etcd-user"].as<std::string>() : env("ETCDCTL_USER");
  std::optional<std::string> password = vm.count("etcd-password") ? vm["etcd-password"].as<std::string>()
                                        : env("ETCDCTL_PASSWORD") ? env("ETCDCTL_PASSWORD")
                                                                  : env("ETCD_PASSWORD");
  if (user && user->find(':') != std::string::npos) {  // etcdctl's --user USER:PASSWORD
    if (!password) password = user->substr(user->find(':') + 1);
    user = user->substr(0, user->find(':'));
  }
  if (user) fields["user"] = *user;
  if (password) fields["password"] = *password;
}

std::unique_ptr<Pipeline> wire_pipeline(const SelectedPipeline& selected, const std::string& state_dir) {
  return as_startup_error([&] {
    const PluginRegistry registry = load_registry(selected.config.plugin_path);
    return build_pipeline(selected.pipeline, registry, selected.config.origin, /*with_trigger=*/false, state_dir);
  });
}

}  // namespace haul
