// SPDX-License-Identifier: Apache-2.0
#include "config/config_errors.hpp"

#include <algorithm>
#include <cctype>

namespace haul {
namespace {

// The number at text[pos...], advancing pos past it; 0 when there is none.
size_t number_at(const std::string& text, size_t& pos) {
  size_t n = 0;
  const size_t start = pos;
  while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos])) && pos - start < 9)
    n = n * 10 + static_cast<size_t>(text[pos++] - '0');
  return n;
}

}  // namespace

void ConfigErrors::add(const std::string& message) {
  for (const auto& e : entries_)
    if (e.message == message) return;  // a consul: block inherited by two plugins is one mistake
  Entry entry;
  entry.message = message;
  // The place yaml_where() wrote: "origin:LINE:COL: ...".
  if (!origin_.empty() && message.compare(0, origin_.size() + 1, origin_ + ":") == 0) {
    size_t pos = origin_.size() + 1;
    entry.line = number_at(message, pos);
    if (entry.line && pos < message.size() && message[pos] == ':') {
      ++pos;
      entry.column = number_at(message, pos);
    }
  }
  entries_.push_back(std::move(entry));
}

bool ConfigErrors::collect(const std::function<void()>& part) {
  try {
    part();
    return true;
  } catch (const Error& e) {
    add(e.what());
    return false;
  }
}

std::vector<std::string> ConfigErrors::messages() const {
  std::vector<Entry> sorted = entries_;
  std::stable_sort(sorted.begin(), sorted.end(), [](const Entry& a, const Entry& b) {
    return a.line != b.line ? a.line < b.line : a.column < b.column;
  });
  std::vector<std::string> out;
  for (const auto& e : sorted) out.push_back(e.message);
  return out;
}

Error ConfigErrors::error() const {
  const auto all = messages();
  if (all.size() == 1) return Error(all.front());
  std::string text = (origin_.empty() ? "" : origin_ + ": ") + std::to_string(all.size()) + " errors:";
  for (const auto& m : all) text += "\n  " + m;
  return Error(text);
}

}  // namespace haul
