// SPDX-License-Identifier: Apache-2.0
// stretcher's command-line flags, accepted the way Go's flag package does
// (-timeout 10s, --timeout=10s), mapped onto DeployOptions. A flag given on
// the command line wins over the pipeline config's deploy: section.
#pragma once

#include <boost/program_options.hpp>

#include "config/pipeline_config.hpp"

namespace haul {

// What a download takes: --timeout, --retry, --retry-wait, --retry-missing, --max-bandwidth.
void add_fetch_flags(boost::program_options::options_description& desc);
// Those, and what only a deploy takes (--random-delay, --rsync-verbose,
// --trusted-key, --allow-downgrade, --strict).
void add_deploy_flags(boost::program_options::options_description& desc);
// Overrides fields of `options` with the flags that were given.
void apply_deploy_flags(const boost::program_options::variables_map& vm, DeployOptions& options);

}  // namespace haul
