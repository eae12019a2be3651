// SPDX-License-Identifier: Apache-2.0
// The environment a credential chain reads (AWS_*, GOOGLE_*, HOME), passed
// in as a function so tests hand it a map and never read, or leak, the real one.
#pragma once

#include <cstdlib>
#include <functional>
#include <optional>
#include <string>

namespace haul::net {

using Environment = std::function<std::optional<std::string>(const std::string&)>;

inline Environment process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
}

}  // namespace haul::net
