// SPDX-License-Identifier: Apache-2.0
// Structured fields a JSON log line carries beside its message: the deploy
// a line belongs to (event id, release, phase, and on its last line the
// outcome and duration). The deploy's log installs them for the length of
// one spdlog call on the calling thread; haul's logger formats on that same
// thread, so the formatter finds them there — no global state shared
// between concurrent deploys.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace haul {

// Keys ending in "_ms" are written as JSON numbers, the rest as strings.
using LogFields = std::vector<std::pair<std::string, std::string>>;

class LogFieldsScope {
 public:
  explicit LogFieldsScope(const LogFields* fields);
  ~LogFieldsScope();
  LogFieldsScope(const LogFieldsScope&) = delete;
  LogFieldsScope& operator=(const LogFieldsScope&) = delete;

 private:
  const LogFields* previous_;
};

// The fields of the line being logged on this thread, or nullptr.
const LogFields* current_log_fields();

}  // namespace haul
