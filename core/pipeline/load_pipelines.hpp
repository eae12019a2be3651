// SPDX-License-Identifier: Apache-2.0
// A pipeline config file made into pipelines, all or nothing: the file is
// read and parsed, every plugin it names is found and its settings checked
// against the plugin's declared fields, and every pipeline is built —
// collecting every mistake of the file on the way instead of stopping at the
// first, so that one run names them all. Building starts no trigger (a
// trigger watches from its first next()), so a caller may build a new set
// while an old one runs and switch only when the new one is whole: `haul
// agent`, `haul check` and a config reload share this.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/config_errors.hpp"
#include "config/pipeline_config.hpp"
#include "pipeline/pipeline.hpp"
#include "plugin/registry.hpp"

namespace haul {

struct LoadOptions {
  bool triggers = true;  // false: everything but the triggers (one-shot commands)
  // Open each pipeline's exactly-once record in the file's state_dir, or
  // default_state_dir when it sets none. Off: nothing is written (haul check).
  bool state = false;
  std::string default_state_dir = "/var/lib/haul";
};

struct LoadedPipelines {
  HaulConfig config;                                 // what parsed, also when there were mistakes
  std::shared_ptr<const PluginRegistry> registry;    // the plugins it was checked against (plugin_path included)
  std::vector<std::unique_ptr<Pipeline>> pipelines;  // every pipeline of the file once built; none when there were mistakes
  ConfigErrors errors;                               // every mistake, "file:line:col: field: what was expected"
  std::string state_dir;                             // where the pipelines record what they applied ("" without state)
  bool ok() const { return errors.empty(); }
};

// Reads and parses the file at path and checks every plugin's name and
// settings, building none (a plugin's own refusal of its settings is not
// seen). Never throws for a mistake in the file, or a file that cannot be
// read: they are in errors.
LoadedPipelines check_pipelines(const std::string& path);

// Builds every pipeline of a checked file, also after one that is wrong (a
// plugin's refusal of its settings in a later one is reported in the same
// run; a mistake the check found is not repeated). Whole, or none.
void build_pipelines(LoadedPipelines& loaded, const LoadOptions& options = {});

// check_pipelines, then build_pipelines.
LoadedPipelines load_pipelines(const std::string& path, const LoadOptions& options = {});

}  // namespace haul
