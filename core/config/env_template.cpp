// SPDX-License-Identifier: Apache-2.0
#include "config/env_template.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <vector>

#include "util/error.hpp"

namespace haul {
namespace {

int line_of(const std::string& text, size_t pos) {
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + pos, '\n'));
}

// Splits `env "NAME" "default"` into words; quoted words lose their quotes
// and honour \" and \\ escapes. Returns false on an unterminated string.
bool split_words(const std::string& body, std::vector<std::pair<std::string, bool>>& out) {
  size_t i = 0;
  while (i < body.size()) {
    if (std::isspace(static_cast<unsigned char>(body[i]))) {
      ++i;
      continue;
    }
    if (body[i] == '"') {
      std::string w;
      ++i;
      bool closed = false;
      while (i < body.size()) {
        char c = body[i++];
        if (c == '\\' && i < body.size()) {
          w += body[i++];
        } else if (c == '"') {
          closed = true;
          break;
        } else {
          w += c;
        }
      }
      if (!closed) return false;
      out.emplace_back(w, true);
    } else {
      size_t start = i;
      while (i < body.size() && !std::isspace(static_cast<unsigned char>(body[i]))) ++i;
      out.emplace_back(body.substr(start, i - start), false);
    }
  }
  return true;
}

}  // namespace

std::optional<std::string> process_env(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (!v) return std::nullopt;
  return std::string(v);
}

std::string render_env_template(const std::string& text, const std::string& origin,
                                const EnvLookup& lookup) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (true) {
    size_t open = text.find("{{", pos);
    if (open == std::string::npos) {
      out.append(text, pos, std::string::npos);
      return out;
    }
    out.append(text, pos, open - pos);
    size_t close = text.find("}}", open + 2);
    std::string where = origin + ":" + std::to_string(line_of(text, open));
    if (close == std::string::npos) throw Error(where + ": '{{' is never closed by '}}'");
    std::string body = text.substr(open + 2, close - open - 2);
    std::string shown = "{{" + body + "}}";
    std::vector<std::pair<std::string, bool>> words;
    if (!split_words(body, words)) throw Error(where + ": " + shown + ": unterminated string");
    auto bad = [&](const std::string& why) { return Error(where + ": " + shown + ": " + why); };
    if (words.empty()) throw bad("empty template; expected env \"NAME\" or must_env \"NAME\"");
    for (size_t i = 1; i < words.size(); ++i)
      if (!words[i].second) throw bad("arguments must be double-quoted strings");
    const std::string& fn = words[0].first;
    if (fn == "env") {
      if (words.size() < 2 || words.size() > 3)
        throw bad("env takes a name and an optional default: {{ env \"NAME\" \"default\" }}");
      auto v = lookup(words[1].first);
      out += v ? *v : (words.size() == 3 ? words[2].first : "");
    } else if (fn == "must_env") {
      if (words.size() != 2) throw bad("must_env takes one name: {{ must_env \"NAME\" }}");
      auto v = lookup(words[1].first);
      if (!v) throw bad("environment variable " + words[1].first + " is not set");
      out += *v;
    } else {
      throw bad("unknown function '" + fn + "'; expected env or must_env");
    }
    pos = close + 2;
  }
}

}  // namespace haul
