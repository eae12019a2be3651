// SPDX-License-Identifier: Apache-2.0
// Runs a program (no shell: argv as given) and collects its output, for the
// few tools the publish side drives the way capistrano-stretcher did: git
// and serf. The hook plugins run operator commands; this is not for them.
#pragma once

#include <string>
#include <vector>

namespace haul {

struct CommandResult {
  int exit_code = -1;  // -1: killed by a signal
  std::string out, err;
};

// Throws haul::Error when argv[0] cannot be started ("is git installed?").
CommandResult run_command(const std::vector<std::string>& argv);

// run_command, throwing haul::Error naming the command and quoting its
// stderr unless it exits 0.
std::string run_command_ok(const std::vector<std::string>& argv);

}  // namespace haul
