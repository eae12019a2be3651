// SPDX-License-Identifier: Apache-2.0
// What every subcommand shares: --log-level/--help, Go-flag-style parsing
// (single-dash long flags as stretcher accepted), and choosing a pipeline
// from --config/--pipeline.
#pragma once

#include <functional>
#include <map>
#include <memory>

#include <boost/program_options.hpp>

#include <string>

#include "cli/commands.hpp"
#include "config/pipeline_config.hpp"
#include "pipeline/pipeline.hpp"

namespace haul {

boost::program_options::options_description common_options();

// Parses args; positional names (may be empty) take the leftover words.
// Sets up logging from --log-level. Throws haul::Error on bad usage.
boost::program_options::variables_map parse_args(
    const Args& args, const boost::program_options::options_description& desc,
    const std::vector<std::string>& positional = {});

// A command's frame: parses args against desc (positional names take the
// leftover words), answers --help with desc, runs body, and turns what it
// throws into an exit code (exit_code_for, after error_prefix).
int run_command(const Args& args, const boost::program_options::options_description& desc,
                const std::vector<std::string>& positional,
                const std::function<int(const boost::program_options::variables_map&)>& body,
                const std::string& error_prefix = "", int failed_code = 1);

// Logs a command's failure (after prefix) and returns its exit code: 2 when
// the command line was wrong (Error::Kind::usage), failed_code for anything
// else (haul diff keeps 1 for "drifted" and fails with 2).
int exit_code_for(const std::exception& e, const std::string& prefix = "", int failed_code = 1);

// A config file with every plugin's name and settings checked, as the agent
// would check them (no plugin is built): one Error names every mistake.
HaulConfig load_checked_config(const std::string& path);

// The config of --config (or the built-in default) and the pipeline named by
// --pipeline (or the only one), with command-line deploy flags applied. The
// whole file is checked (load_checked_config), not the chosen pipeline only.
struct SelectedPipeline {
  HaulConfig config;
  PipelineConfig pipeline;
};
SelectedPipeline select_pipeline(const boost::program_options::variables_map& vm);
// Pipeline `name` of the config file at `path`, without command-line flags.
SelectedPipeline select_pipeline_of(const std::string& path, const std::string& name);

// The selected pipeline's sources and hooks, loaded and wired without its
// trigger: what a one-shot command deploys, fetches or publishes with. The
// instances keep their plugins loaded. state_dir: see build_pipeline.
std::unique_ptr<Pipeline> wire_pipeline(const SelectedPipeline& selected, const std::string& state_dir = "");

// The Consul connection a config file gives the commands that talk to
// Consul themselves (status, kick): its consul: block, else the first
// pipeline's consul-http trigger. Field → value; empty when neither.
std::map<std::string, std::string> consul_connection_of(const HaulConfig& config);
// Its etcd: block likewise (endpoints one per line, as a list field holds them).
std::map<std::string, std::string> etcd_connection_of(const HaulConfig& config);
// --etcd-user USER[:PASSWORD] and --etcd-password, else ETCDCTL_USER,
// ETCDCTL_PASSWORD and ETCD_PASSWORD, over what `fields` holds (a flag or a
// variable that is set wins).
void add_etcd_auth_flags(const boost::program_options::variables_map& vm, std::map<std::string, std::string>& fields);

}  // namespace haul
