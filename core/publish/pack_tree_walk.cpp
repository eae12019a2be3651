// SPDX-License-Identifier: Apache-2.0
#include "publish/pack_tree_walk.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "config/exclude_rules.hpp"
#include "util/error.hpp"

namespace fs = std::filesystem;

namespace haul {

namespace {

class Walker {
 public:
  Walker(const fs::path& root, const ExcludeRules& rules, const fs::path& skip_file)
      : root_(root), rules_(rules), skip_(skip_file) {}

  void walk(const fs::path& dir, const std::string& prefix, std::vector<PackEntry>& out,
            std::vector<std::string>& skipped) {
    std::vector<std::string> names;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
      names.push_back(it->path().filename().string());
    if (ec) throw Error("cannot read folder " + dir.string() + ": " + ec.message());
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
      PackEntry e;
      e.rel = prefix + name;
      e.abs = dir / name;
      if (lstat(e.abs.c_str(), &e.st) != 0)
        throw Error("cannot stat " + e.abs.string() + ": " + std::strerror(errno));
      const bool is_dir = S_ISDIR(e.st.st_mode);
      if (rules_.excluded(e.rel, is_dir)) continue;
      if (!skip_.empty() && e.st.st_dev == skip_st_.st_dev && e.st.st_ino == skip_st_.st_ino) continue;
      if (!is_dir && !S_ISREG(e.st.st_mode) && !S_ISLNK(e.st.st_mode)) {
        skipped.push_back(e.rel);
        continue;
      }
      out.push_back(e);
      if (is_dir) walk(e.abs, e.rel + "/", out, skipped);
    }
  }

  void prepare() {
    if (!skip_.empty() && lstat(skip_.c_str(), &skip_st_) != 0) skip_.clear();
  }

 private:
  fs::path root_;
  const ExcludeRules& rules_;
  fs::path skip_;
  struct stat skip_st_ {};
};

ExcludeRules rules_for(const PackOptions& o) {
  ExcludeRules rules;
  for (const auto& p : o.excludes) rules.exclude(p);
  const fs::path ignore = o.source / ".haulignore";
  if (o.read_haulignore && fs::exists(ignore)) {
    std::ifstream in(ignore);
    if (!in) throw Error("cannot read " + ignore.string());
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.find_first_not_of(" \t") == std::string::npos) continue;
      // A bare pattern excludes, as in .gitignore; "+ pat" / "- pat" as in rsync.
      if (line.rfind("+ ", 0) == 0 || line.rfind("- ", 0) == 0 || line[0] == '#' || line[0] == ';')
        rules.add_line(line);
      else
        rules.exclude(line);
    }
    rules.exclude("/.haulignore");
  }
  rules.exclude(".git/");
  return rules;
}

}  // namespace

PackTree walk_pack_tree(const PackOptions& o) {
  struct stat root_st;
  if (stat(o.source.c_str(), &root_st) != 0 || !S_ISDIR(root_st.st_mode))
    throw Error(o.source.string() + ": not a folder; haul pack takes the folder to pack");
  if (o.clamp_mtime && !o.mtime) throw Error("--clamp-mtime needs --mtime TIME (or SOURCE_DATE_EPOCH)");

  PackTree tree;
  ExcludeRules rules = rules_for(o);
  Walker walker(o.source, rules, o.output);
  walker.prepare();
  std::vector<PackEntry>& entries = tree.entries;
  walker.walk(o.source, "", entries, tree.skipped);
  // Extra files replace tree files of the same name.
  for (const auto& x : o.extra_files) {
    entries.erase(std::remove_if(entries.begin(), entries.end(), [&](const PackEntry& e) { return e.rel == x.name; }),
                  entries.end());
    PackEntry e;
    e.rel = x.name;
    e.extra = &x;
    e.st.st_mode = S_IFREG | 0644;
    e.st.st_size = static_cast<off_t>(x.content.size());
    entries.push_back(e);
  }
  std::sort(entries.begin(), entries.end(), [](const PackEntry& a, const PackEntry& b) { return a.rel < b.rel; });

  // Extra files carry the newest mtime of the tree unless one is given.
  int64_t newest = 0;
  for (const auto& e : entries)
    if (!e.extra) newest = std::max<int64_t>(newest, e.st.st_mtim.tv_sec);
  for (auto& e : entries) {
    int64_t t = e.extra ? newest : static_cast<int64_t>(e.st.st_mtim.tv_sec);
    if (o.mtime) t = o.clamp_mtime ? std::min(t, *o.mtime) : *o.mtime;
    e.mtime = t;
  }
  return tree;
}

}  // namespace haul
