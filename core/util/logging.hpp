// SPDX-License-Identifier: Apache-2.0
// haul's own log: spdlog to stderr (stdout stays free for command output such
// as `haul plugins list`). Timestamps are UTC, like the deploy log's. The
// json format writes one object per line — {"time", "level", "pipeline",
// "msg"} — for journald and log shippers.
#pragma once

#include <string>

namespace haul {

// level: debug, info, warn, error; format: text or json. Throws haul::Error
// for anything else.
void setup_logging(const std::string& level, const std::string& format = "text");

}  // namespace haul
