// SPDX-License-Identifier: Apache-2.0
#include "util/units.hpp"

#include <haul/sdk.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <ctime>
#include <cstdio>

namespace haul {
using sdk::trim;
namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Reads a non-negative decimal number (with optional fraction) at pos.
std::optional<double> read_number(const std::string& s, size_t& pos) {
  size_t start = pos;
  while (pos < s.size() && (std::isdigit(static_cast<unsigned char>(s[pos])) || s[pos] == '.')) ++pos;
  if (pos == start) return std::nullopt;
  std::string num = s.substr(start, pos - start);
  if (num == "." || num.find('.') != num.rfind('.')) return std::nullopt;
  return std::stod(num);
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(const std::string& raw) {
  std::string s = trim(raw);
  if (s.empty()) return std::nullopt;
  size_t pos = 0;
  double total_ms = 0;
  bool any = false;
  while (pos < s.size()) {
    auto n = read_number(s, pos);
    if (!n) return std::nullopt;
    size_t unit_start = pos;
    while (pos < s.size() && std::isalpha(static_cast<unsigned char>(s[pos]))) ++pos;
    std::string unit = s.substr(unit_start, pos - unit_start);
    double scale;
    if (unit.empty()) {
      // A bare number is seconds (stretcher's -retry-wait and -random-delay),
      // but only on its own: "1m30" is a typo, not 1m30s.
      if (any || pos != s.size()) return std::nullopt;
      scale = 1000;
    } else if (unit == "ms") {
      scale = 1;
    } else if (unit == "s") {
      scale = 1000;
    } else if (unit == "m") {
      scale = 60'000;
    } else if (unit == "h") {
      scale = 3'600'000;
    } else if (unit == "d") {
      scale = 86'400'000;
    } else {
      return std::nullopt;
    }
    total_ms += *n * scale;
    any = true;
  }
  return std::chrono::milliseconds(static_cast<long long>(std::llround(total_ms)));
}

std::optional<uint64_t> parse_bytes(const std::string& raw) {
  std::string s = lower(trim(raw));
  size_t pos = 0;
  auto n = read_number(s, pos);
  if (!n) return std::nullopt;
  std::string unit = trim(s.substr(pos));
  if (!unit.empty() && unit.back() == 'b') unit.pop_back();  // "MB" == "M", "MiB" == "Mi"
  static const struct { const char* name; double scale; } units[] = {
      {"", 1},          {"k", 1e3},           {"m", 1e6},           {"g", 1e9},
      {"t", 1e12},      {"ki", 1024.0},       {"mi", 1048576.0},    {"gi", 1073741824.0},
      {"ti", 1099511627776.0},
  };
  for (const auto& u : units) {
    if (unit == u.name) return static_cast<uint64_t>(std::llround(*n * u.scale));
  }
  return std::nullopt;
}

std::string format_duration(std::chrono::milliseconds d) {
  long long ms = d.count();
  if (ms < 1000) return std::to_string(ms) + "ms";
  std::string out;
  long long h = ms / 3'600'000, m = (ms / 60'000) % 60;
  double s = static_cast<double>(ms % 60'000) / 1000.0;
  if (h) out += std::to_string(h) + "h";
  if (m) out += std::to_string(m) + "m";
  if (s > 0 || out.empty()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", s);
    out += std::string(buf) + "s";
  }
  return out;
}

std::string format_bytes(uint64_t bytes) {
  static const char* names[] = {"B", "kB", "MB", "GB", "TB"};
  double v = static_cast<double>(bytes);
  int i = 0;
  while (v >= 1000 && i < 4) {
    v /= 1000;
    ++i;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, i == 0 ? "%.0f %s" : "%.1f %s", v, names[i]);
  return buf;
}

std::optional<int64_t> parse_timestamp(const std::string& text) {
  std::string t = text;
  if (!t.empty() && t[0] == '@') t = t.substr(1);
  if (!t.empty() && std::all_of(t.begin(), t.end(), [](unsigned char c) { return std::isdigit(c); }))
    return std::stoll(t);
  std::tm tm{};
  const char* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!end) {
    tm = {};
    end = strptime(text.c_str(), "%Y-%m-%d", &tm);
  }
  if (!end || !(*end == '\0' || (*end == 'Z' && end[1] == '\0'))) return std::nullopt;
  return static_cast<int64_t>(timegm(&tm));
}

std::string format_timestamp(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string count_of(uint64_t n, const std::string& singular, const std::string& plural) {
  return std::to_string(n) + " " + (n == 1 ? singular : plural);
}

std::string format_mode(unsigned mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", mode & 07777u);
  return buf;
}

}  // namespace haul
