// SPDX-License-Identifier: Apache-2.0
// Small helpers so every YAML error says where it is: "file:line:col: field:
// what was expected". yaml-cpp marks are 0-based; operators (and editors,
// grep -n) count lines and columns from 1.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "config/config_errors.hpp"

namespace haul {

// Parses text; a syntax error becomes haul::Error "origin:line:col: ...".
YAML::Node parse_yaml(const std::string& text, const std::string& origin);

// "origin:line:col" for a node (just "origin" when the node has no mark).
std::string yaml_where(const std::string& origin, const YAML::Node& node);

// The node's type in words: "a map", "a list", "a string", "null".
std::string yaml_kind(const YAML::Node& node);

// A scalar as text; anything else is an error naming field and location.
std::string yaml_string(const YAML::Node& node, const std::string& origin,
                        const std::string& field);

// A list of scalars, or a single scalar taken as a one-item list.
std::vector<std::string> yaml_string_list(const YAML::Node& node, const std::string& origin,
                                          const std::string& field);

// An error naming every key of map not in valid (with a did-you-mean), and
// listing the valid ones.
void reject_unknown_keys(const YAML::Node& map, const std::vector<std::string>& valid,
                         const std::string& origin, const std::string& field_path);
// The same, each unknown key an error of its own in errors.
void reject_unknown_keys(const YAML::Node& map, const std::vector<std::string>& valid,
                         const std::string& origin, const std::string& field_path, ConfigErrors& errors);

}  // namespace haul
