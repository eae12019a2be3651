// SPDX-License-Identifier: Apache-2.0
// The log of one deploy. Every line goes to haul's log as it happens and is
// kept, so that success and failure commands can read the whole story on
// stdin, as stretcher's did.
#pragma once

#include <haul/plugin.h>

#include <mutex>
#include <string>

#include "util/log_fields.hpp"

namespace haul {

class DeployLog {
 public:
  explicit DeployLog(std::string pipeline) : pipeline_(std::move(pipeline)) {}
  void log(haul_log_level level, const std::string& message);
  void debug(const std::string& m) { log(HAUL_LOG_DEBUG, m); }
  void info(const std::string& m) { log(HAUL_LOG_INFO, m); }
  void warn(const std::string& m) { log(HAUL_LOG_WARN, m); }
  void error(const std::string& m) { log(HAUL_LOG_ERROR, m); }
  std::string text() const;
  // A structured field every later line carries in JSON logs (event_id,
  // release, phase, outcome, duration_ms); an empty value removes it.
  void set_field(const std::string& key, const std::string& value);

 private:
  std::string pipeline_;
  mutable std::mutex mu_;
  std::string text_;
  LogFields fields_;
};

}  // namespace haul
