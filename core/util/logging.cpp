#include "util/logging.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "util/error.hpp"

namespace haul {

void setup_logging(const std::string& level) {
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off")
    throw Error("--log-level: expected debug, info, warn or error; got '" + level + "'");
  if (!spdlog::get("haul")) spdlog::set_default_logger(spdlog::stderr_color_mt("haul"));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%-5l%$ %v", spdlog::pattern_time_type::utc);
  spdlog::set_level(lvl);
}

}  // namespace haul
