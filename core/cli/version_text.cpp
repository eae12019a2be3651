#include "cli/version_text.hpp"

#include "haul_commit.hpp"
#include "version.hpp"

namespace haul {

std::string version_text() { return std::string("haul ") + HAUL_VERSION + " (commit " + HAUL_COMMIT + ")"; }

}  // namespace haul
