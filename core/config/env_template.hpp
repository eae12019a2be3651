// SPDX-License-Identifier: Apache-2.0
// The two template functions stretcher's manifests use (kayac/go-config):
//   {{ env "NAME" }}  {{ env "NAME" "default" }}  {{ must_env "NAME" }}
// Rendering happens on the text before YAML parsing, as in stretcher, so a
// value may sit anywhere in the document. Anything else inside {{ }} is an
// error that names the file, line and what was found.
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace haul {

using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

// Looks names up in the process environment.
std::optional<std::string> process_env(const std::string& name);

// origin names the document in error messages (a file path or URL).
std::string render_env_template(const std::string& text, const std::string& origin,
                                const EnvLookup& lookup = process_env);

}  // namespace haul
