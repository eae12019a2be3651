// SPDX-License-Identifier: Apache-2.0
#include "cli/version_text.hpp"

#include "haul_commit.hpp"
#include "version.hpp"

namespace haul {

std::string version_text() { return std::string("haul ") + HAUL_VERSION + " (commit " + HAUL_COMMIT + ")"; }

std::string version_and_license() {
  return version_text() +
         "\nLicensed under the Apache License 2.0 (SPDX: Apache-2.0): see LICENSE in the source, or\n"
         "/usr/share/doc/haul/copyright where the package is installed.\n";
}

}  // namespace haul
