// SPDX-License-Identifier: Apache-2.0
// What `haul --version` says: the version (one place: project() in the top
// CMakeLists.txt) and the commit the binary was built from.
#pragma once

#include <string>

namespace haul {

std::string version_text();  // "haul 0.1.0 (commit 1a2b3c4d5e)"

// What `haul --version` prints: the version line, then the license.
std::string version_and_license();

}  // namespace haul
