// SPDX-License-Identifier: Apache-2.0
#include "util/logging.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <chrono>
#include <cstdio>
#include <string_view>
#include <ctime>

#include "util/error.hpp"
#include "util/log_fields.hpp"

namespace haul {
namespace {

// The level as the --log-level flag spells it, in both formats.
const char* level_name(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace: return "trace";
    case spdlog::level::debug: return "debug";
    case spdlog::level::info: return "info";
    case spdlog::level::warn: return "warn";
    case spdlog::level::err: return "error";
    case spdlog::level::critical: return "critical";
    default: return "off";
  }
}

// A log line never carries terminal control codes or megabytes: whatever a
// message holds (stdin, a URL, a command's output) is escaped (\xNN; newlines
// and tabs stay) and cut at kMaxMessage bytes.
constexpr size_t kMaxMessage = 8192;
std::string printable(std::string_view text) {
  std::string out;
  const size_t keep = std::min(text.size(), kMaxMessage);
  out.reserve(keep + 32);
  for (size_t i = 0; i < keep; ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > keep) out += "… (" + std::to_string(text.size() - keep) + " more bytes not shown)";
  return out;
}

// The syslog priority journald reads from a "<N>" line prefix.
int syslog_priority(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug: return 7;
    case spdlog::level::info: return 6;
    case spdlog::level::warn: return 4;
    case spdlog::level::err: return 3;
    default: return 2;
  }
}

// Is stderr connected to the journal? systemd sets JOURNAL_STREAM to the
// "device:inode" of the stream it gave the service; a redirect (2>file)
// breaks the match, as sd_journal_stream_fd's documentation prescribes.
bool stderr_is_journal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (!stream || !*stream) return false;
  struct stat st {};
  if (fstat(STDERR_FILENO, &st) != 0) return false;
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) == stream;
}

// This host's name in every JSON line: HAUL_NODE, else the hostname.
std::string node_name() {
  if (const char* node = std::getenv("HAUL_NODE"); node && *node) return node;
  char host[256] = {};
  return gethostname(host, sizeof host - 1) == 0 ? host : "";
}

class PriorityFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    const std::string prefix = "<" + std::to_string(syslog_priority(msg.level)) + ">";
    dest.append(prefix.data(), prefix.data() + prefix.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<PriorityFlag>(); }
};

class LevelFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    std::string name = level_name(msg.level);
    name.resize(std::max<size_t>(name.size(), 5), ' ');
    dest.append(name.data(), name.data() + name.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<LevelFlag>(); }
};

// The message, printable. For the journal every line of it carries the
// priority: journald reads each line as an entry of its own, and would give
// a message's later lines (a config's list of mistakes) the unit's default.
class PrintableFlag : public spdlog::custom_flag_formatter {
 public:
  explicit PrintableFlag(bool journal = false) : journal_(journal) {}
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    std::string text = printable({msg.payload.data(), msg.payload.size()});
    if (journal_) {
      const std::string prefix = "\n<" + std::to_string(syslog_priority(msg.level)) + ">";
      for (size_t at = text.find('\n'); at != std::string::npos; at = text.find('\n', at + prefix.size()))
        text.replace(at, 1, prefix);
    }
    dest.append(text.data(), text.data() + text.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<PrintableFlag>(journal_); }

 private:
  bool journal_;
};

class JsonFormatter : public spdlog::formatter {
 public:
  JsonFormatter(bool journal, std::string node) : journal_(journal), node_(std::move(node)) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto t = std::chrono::system_clock::to_time_t(msg.time);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char stamp[40];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    std::snprintf(stamp + 19, sizeof stamp - 19, ".%03dZ", static_cast<int>(ms));
    std::string text = printable({msg.payload.data(), msg.payload.size()});
    nlohmann::json line = {{"time", stamp}, {"level", level_name(msg.level)}};
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
    // "<post `cmd`> line": a hook command's output.
    if (text.size() > 3 && text[0] == '<') {
      const size_t tick = text.find(" `"), close = text.find("`> ");
      if (tick != std::string::npos && close != std::string::npos && tick < close) {
        line["hook_phase"] = text.substr(1, tick - 1);
        line["command"] = text.substr(tick + 2, close - tick - 2);
        text = text.substr(close + 3);
      }
    }
    line["msg"] = text;
    if (!node_.empty()) line["node"] = node_;
    if (const LogFields* fields = current_log_fields())
      for (const auto& [key, value] : *fields) {
        if (key.size() > 3 && key.compare(key.size() - 3, 3, "_ms") == 0)
          line[key] = std::strtoll(value.c_str(), nullptr, 10);
        else
          line[key] = printable(value);
      }
    const std::string out = (journal_ ? "<" + std::to_string(syslog_priority(msg.level)) + ">" : std::string()) +
                            line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    dest.append(out.data(), out.data() + out.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(journal_, node_); }

 private:
  bool journal_;
  std::string node_;
};

}  // namespace

void setup_logging(const std::string& level, const std::string& format) {
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off")
    throw Error("--log-level: expected debug, info, warn or error; got '" + level + "'");
  if (format != "text" && format != "json") throw Error("--log-format: expected text or json; got '" + format + "'");
  if (!spdlog::get("haul")) spdlog::set_default_logger(spdlog::stderr_color_mt("haul"));
  // Under systemd, lines carry journald's priority prefix (journalctl -p
  // err works) and no time of their own: the journal stamps each line.
  const bool journal = stderr_is_journal();
  if (format == "json") spdlog::set_formatter(std::make_unique<JsonFormatter>(journal, node_name()));
  else {
    auto text = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    text->add_flag<LevelFlag>('L').add_flag<PrintableFlag>('V', journal).add_flag<PriorityFlag>('P');
    text->set_pattern(journal ? "%P%L %V" : "%Y-%m-%dT%H:%M:%S.%eZ %^%L%$ %V");
    spdlog::set_formatter(std::move(text));
  }
  spdlog::set_level(lvl);
}

}  // namespace haul
