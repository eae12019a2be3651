// haul's own log: spdlog to stderr (stdout stays free for command output such
// as `haul plugins list`). Timestamps are UTC, like the deploy log's.
#pragma once

#include <string>

namespace haul {

// level: debug, info, warn, error. Throws haul::Error for anything else.
void setup_logging(const std::string& level);

}  // namespace haul
