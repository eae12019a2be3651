// SPDX-License-Identifier: Apache-2.0
#include "config/exclude_rules.hpp"

namespace haul {
namespace {

// Matches one bracket expression at p against c; advances p past it.
bool match_class(const char*& p, char c) {
  const char* q = p + 1;
  bool negate = (*q == '!' || *q == '^');
  if (negate) ++q;
  bool hit = false;
  bool first = true;
  while (*q && (first || *q != ']')) {
    first = false;
    char lo = *q;
    if (q[1] == '-' && q[2] && q[2] != ']') {
      if (c >= lo && c <= q[2]) hit = true;
      q += 3;
    } else {
      if (c == lo) hit = true;
      ++q;
    }
  }
  p = *q ? q + 1 : q;
  return hit != negate;
}

}  // namespace

bool glob_match(const char* p, const char* t) {
  while (*p) {
    if (p[0] == '*' && p[1] == '*') {
      while (*p == '*') ++p;
      for (const char* s = t;; ++s) {
        if (glob_match(p, s)) return true;
        if (!*s) return false;
      }
    }
    if (*p == '*') {
      ++p;
      for (const char* s = t;; ++s) {
        if (glob_match(p, s)) return true;
        if (!*s || *s == '/') return false;
      }
    }
    if (!*t) return false;
    if (*p == '?') {
      if (*t == '/') return false;
      ++p;
      ++t;
    } else if (*p == '[') {
      if (*t == '/' || !match_class(p, *t)) return false;
      ++t;
    } else {
      if (*p == '\\' && p[1]) ++p;
      if (*p != *t) return false;
      ++p;
      ++t;
    }
  }
  return *t == '\0';
}

void ExcludeRules::add(std::string pattern, bool include) {
  if (pattern.empty()) return;
  if (pattern.size() > 4 && pattern.compare(pattern.size() - 4, 4, "/***") == 0) {
    std::string base = pattern.substr(0, pattern.size() - 4);
    add(base, include);
    add(base + "/**", include);
    return;
  }
  Rule r{};
  r.include = include;
  if (pattern.size() > 1 && pattern.back() == '/') {
    r.dir_only = true;
    pattern.pop_back();
  }
  if (pattern[0] == '/') {
    r.anchored = true;
    pattern.erase(0, 1);
  }
  r.full_path = r.anchored || pattern.find('/') != std::string::npos || pattern.find("**") != std::string::npos;
  r.pattern = pattern;
  rules_.push_back(std::move(r));
}

void ExcludeRules::add_line(const std::string& raw) {
  std::string line = raw;
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
  if (line.empty() || line[0] == '#' || line[0] == ';') return;
  if (line.rfind("- ", 0) == 0) return exclude(line.substr(2));
  if (line.rfind("+ ", 0) == 0) return include(line.substr(2));
  exclude(line);
}

bool ExcludeRules::excluded(const std::string& rel, bool is_dir) const {
  const std::string base = rel.substr(rel.rfind('/') == std::string::npos ? 0 : rel.rfind('/') + 1);
  for (const auto& r : rules_) {
    if (r.dir_only && !is_dir) continue;
    bool hit = false;
    if (!r.full_path) {
      hit = glob_match(r.pattern.c_str(), base.c_str());
    } else if (r.anchored) {
      hit = glob_match(r.pattern.c_str(), rel.c_str());
    } else {
      // Unanchored with a '/': matches the end of the path at a component boundary.
      for (size_t pos = 0;;) {
        if ((hit = glob_match(r.pattern.c_str(), rel.c_str() + pos))) break;
        size_t slash = rel.find('/', pos);
        if (slash == std::string::npos) break;
        pos = slash + 1;
      }
    }
    if (hit) return !r.include;
  }
  return false;
}

}  // namespace haul
