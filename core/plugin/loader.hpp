// SPDX-License-Identifier: Apache-2.0
// Loads one plugin shared object through Boost.DLL and checks it against the
// ABI this host was built with. Every refusal says why, in words an operator
// can act on (rebuild against SDK x.y, add the missing callback, ...).
#pragma once

#include <filesystem>
#include <memory>

#include "plugin/loaded_plugin.hpp"

namespace haul {

// Throws haul::Error naming the file and the reason.
std::shared_ptr<LoadedPlugin> load_plugin(const std::filesystem::path& path);

// The checks on the entry struct alone, for plugins linked in any way.
void validate_plugin_info(const haul_plugin_info* info, const std::string& path);

}  // namespace haul
