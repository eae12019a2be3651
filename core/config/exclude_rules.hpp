// SPDX-License-Identifier: Apache-2.0
// rsync's exclude rules, as stretcher passed them to `rsync --exclude` and
// `--exclude-from`: a pattern without '/' matches a name at any depth
// ("*.pid"), a trailing '/' matches directories only ("tmp/"), a leading '/'
// anchors to the top of the release ("/config/local.yml"), '*' stops at '/',
// '**' does not, "dir/***" is dir and everything in it. In a file, "- pat"
// excludes, "+ pat" includes, and '#' or ';' start a comment; the first rule
// that matches decides.
#pragma once

#include <string>
#include <vector>

namespace haul {

class ExcludeRules {
 public:
  void exclude(const std::string& pattern) { add(pattern, false); }
  void include(const std::string& pattern) { add(pattern, true); }
  // One line of an exclude-from file.
  void add_line(const std::string& line);
  // rel_path: '/'-separated, relative to the top of the release.
  bool excluded(const std::string& rel_path, bool is_dir) const;
  bool empty() const { return rules_.empty(); }

 private:
  struct Rule {
    std::string pattern;
    bool include, dir_only, anchored, full_path;
  };
  void add(std::string pattern, bool include);
  std::vector<Rule> rules_;
};

// Shell-style match: '*' and '?' stop at '/', '**' crosses it, [a-z] classes.
bool glob_match(const char* pattern, const char* text);

}  // namespace haul
