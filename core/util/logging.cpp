#include "util/logging.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>

#include "util/error.hpp"

namespace haul {
namespace {

class JsonFormatter : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto t = std::chrono::system_clock::to_time_t(msg.time);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char stamp[40];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    std::snprintf(stamp + 19, sizeof stamp - 19, ".%03dZ", static_cast<int>(ms));
    std::string text(msg.payload.data(), msg.payload.size());
    nlohmann::json line = {{"time", stamp}, {"level", spdlog::level::to_string_view(msg.level).data()}};
    // "[web] ..." and "[web/http] ..." carry the pipeline (and plugin) in front.
    if (text.size() > 2 && text[0] == '[') {
      size_t close = text.find("] ");
      if (close != std::string::npos) {
        std::string who = text.substr(1, close - 1);
        size_t slash = who.find('/');
        line["pipeline"] = who.substr(0, slash);
        if (slash != std::string::npos) line["plugin"] = who.substr(slash + 1);
        text = text.substr(close + 2);
      }
    }
    line["msg"] = text;
    const std::string out = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    dest.append(out.data(), out.data() + out.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

}  // namespace

void setup_logging(const std::string& level, const std::string& format) {
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off")
    throw Error("--log-level: expected debug, info, warn or error; got '" + level + "'");
  if (format != "text" && format != "json") throw Error("--log-format: expected text or json; got '" + format + "'");
  if (!spdlog::get("haul")) spdlog::set_default_logger(spdlog::stderr_color_mt("haul"));
  if (format == "json") spdlog::set_formatter(std::make_unique<JsonFormatter>());
  else spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%-5l%$ %v", spdlog::pattern_time_type::utc);
  spdlog::set_level(lvl);
}

}  // namespace haul
