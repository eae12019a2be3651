// SPDX-License-Identifier: Apache-2.0
// Checks a plugin's YAML settings against the fields the plugin declares,
// before the plugin ever sees them: unknown keys (with a did-you-mean and
// the list of valid ones), wrong types, missing required fields. Values reach the plugin as
// normalised strings (durations in ms, sizes in bytes; see plugin.h).
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <utility>
#include <vector>

#include "config/config_errors.hpp"
#include "plugin/loaded_plugin.hpp"

namespace haul {

using PluginSettings = std::vector<std::pair<std::string, std::string>>;

// node: the plugin's map (or null for "all defaults"). Keys in `reserved`
// (e.g. "type") belong to the core and are skipped. field_path names the
// place in the file, e.g. "pipelines.web.trigger".
// Throws one Error naming every mistake.
PluginSettings validate_plugin_config(const LoadedPlugin& plugin, const YAML::Node& node,
                                      const std::string& origin, const std::string& field_path,
                                      const std::vector<std::string>& reserved = {"type"});
// Adds every mistake to errors; the settings that were right. place: where
// the plugin is named, for a missing field when node has no place of its own.
PluginSettings validate_plugin_config(const LoadedPlugin& plugin, const YAML::Node& node,
                                      const std::string& origin, const std::string& field_path,
                                      const std::vector<std::string>& reserved, ConfigErrors& errors,
                                      const YAML::Node& place = YAML::Node());

}  // namespace haul
