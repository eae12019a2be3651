// SPDX-License-Identifier: Apache-2.0
#include "util/deploy_log.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>

namespace haul {

void DeployLog::set_field(const std::string& key, const std::string& value) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = fields_.begin(); it != fields_.end(); ++it)
    if (it->first == key) {
      fields_.erase(it);
      break;
    }
  if (!value.empty()) fields_.emplace_back(key, value);
}

void DeployLog::log(haul_log_level level, const std::string& message) {
  LogFields fields;
  {
    std::lock_guard<std::mutex> lock(mu_);
    fields = fields_;
  }
  const LogFieldsScope scope(&fields);
  switch (level) {
    case HAUL_LOG_DEBUG: spdlog::debug("[{}] {}", pipeline_, message); return;  // not kept
    case HAUL_LOG_WARN: spdlog::warn("[{}] {}", pipeline_, message); break;
    case HAUL_LOG_ERROR: spdlog::error("[{}] {}", pipeline_, message); break;
    default: spdlog::info("[{}] {}", pipeline_, message); break;
  }
  std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char stamp[32];
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
  std::lock_guard<std::mutex> lock(mu_);
  text_ += stamp;
  text_ += level == HAUL_LOG_ERROR ? " error " : level == HAUL_LOG_WARN ? " warn " : " ";
  text_ += message;
  text_ += '\n';
}

std::string DeployLog::text() const {
  std::lock_guard<std::mutex> lock(mu_);
  return text_;
}

}  // namespace haul
