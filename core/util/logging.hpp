// SPDX-License-Identifier: Apache-2.0
// haul's own log: spdlog to stderr (stdout stays free for command output such
// as `haul plugins list`). Timestamps are UTC, like the deploy log's. The
// json format writes one object per line — {"time", "level", "node",
// "pipeline", "msg"}, and a deploy's event_id, release, phase, outcome and
// duration_ms — for log shippers. When stderr is the journal (systemd's
// JOURNAL_STREAM), each line starts with journald's "<N>" priority, and text
// lines leave the time to the journal.
#pragma once

#include <string>

namespace haul {

// level: debug, info, warn, error; format: text or json. Throws haul::Error
// for anything else.
void setup_logging(const std::string& level, const std::string& format = "text");

}  // namespace haul
