// SPDX-License-Identifier: Apache-2.0
#include "drift/tree_record.hpp"

#include <algorithm>
#include <fstream>
#include <functional>
#include <sstream>
#include <unordered_set>

#include "config/exclude_rules.hpp"
#include "drift/tree_record_format.hpp"
#include "util/error.hpp"
#include "util/beside_dest.hpp"

namespace haul {
namespace {

std::vector<std::string_view> fields_of(std::string_view line) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (true) {
    const size_t tab = line.find('\t', pos);
    out.push_back(line.substr(pos, tab == std::string_view::npos ? std::string_view::npos : tab - pos));
    if (tab == std::string_view::npos) return out;
    pos = tab + 1;
  }
}

}  // namespace

void TreeRecord::push(TreeEntry e) {
  by_path_[e.path] = entries_.size();
  entries_.push_back(std::move(e));
}

void TreeRecord::add_dir(std::string_view path, unsigned mode) {
  TreeEntry e;
  e.kind = TreeEntry::kDir;
  e.path = path;
  e.mode = mode;
  push(std::move(e));
}

void TreeRecord::add_file(std::string_view path, unsigned mode, uint64_t size, const struct timespec& mtime,
                          std::string hash) {
  TreeEntry e;
  e.kind = TreeEntry::kFile;
  e.path = path;
  e.mode = mode;
  e.size = size;
  e.mtime_sec = mtime.tv_sec;
  e.mtime_nsec = mtime.tv_nsec;
  e.hash = std::move(hash);
  push(std::move(e));
}

void TreeRecord::add_symlink(std::string_view path, std::string target) {
  TreeEntry e;
  e.kind = TreeEntry::kSymlink;
  e.path = path;
  e.target = std::move(target);
  push(std::move(e));
}

void TreeRecord::add_hardlink(std::string_view path, std::string_view to) {
  auto it = by_path_.find(std::string(to));
  if (it == by_path_.end()) return;  // the extractor refused it already
  TreeEntry e = entries_[it->second];
  e.path = path;
  push(std::move(e));
}

void TreeRecord::finish() {
  by_path_.clear();
  // Sorted by path; among equal paths the archive's last entry wins.
  std::stable_sort(entries_.begin(), entries_.end(),
                   [](const TreeEntry& a, const TreeEntry& b) { return a.path < b.path; });
  std::vector<TreeEntry> unique;
  unique.reserve(entries_.size());
  for (auto& e : entries_) {
    if (!unique.empty() && unique.back().path == e.path)
      unique.back() = std::move(e);
    else
      unique.push_back(std::move(e));
  }
  // An entry stays when every folder above it is one: a folder an archive
  // never listed is made by the extractor (recorded with any mode), one a
  // later entry replaced by a file takes what was under it along.
  std::unordered_map<std::string_view, TreeEntry::Kind> kinds;
  kinds.reserve(unique.size());
  for (const auto& e : unique) kinds.emplace(e.path, e.kind);
  std::unordered_map<std::string, bool> folder_ok;
  std::vector<TreeEntry> implicit;
  std::function<bool(std::string_view)> is_folder = [&](std::string_view dir) -> bool {
    if (dir.empty()) return true;
    auto memo = folder_ok.find(std::string(dir));
    if (memo != folder_ok.end()) return memo->second;
    auto k = kinds.find(dir);
    bool ok = is_folder(record_parent(dir));
    if (k != kinds.end()) {
      ok = ok && k->second == TreeEntry::kDir;
    } else if (ok) {
      TreeEntry e;
      e.kind = TreeEntry::kDir;
      e.path = dir;
      implicit.push_back(std::move(e));
    }
    folder_ok.emplace(std::string(dir), ok);
    return ok;
  };
  // Decided before anything moves: kinds views unique's strings.
  std::vector<char> keep(unique.size());
  for (size_t i = 0; i < unique.size(); ++i) keep[i] = is_folder(record_parent(unique[i].path));
  entries_.clear();
  for (size_t i = 0; i < unique.size(); ++i)
    if (keep[i]) entries_.push_back(std::move(unique[i]));
  if (!implicit.empty()) {
    for (auto& e : implicit) entries_.push_back(std::move(e));
    std::sort(entries_.begin(), entries_.end(), [](const TreeEntry& a, const TreeEntry& b) { return a.path < b.path; });
  }
}

void TreeRecord::drop_excluded(const ExcludeRules& rules) {
  if (rules.empty()) return;
  std::unordered_set<std::string_view> dropped_dirs;
  auto under_dropped = [&](std::string_view path) {
    for (auto p = record_parent(path); !p.empty(); p = record_parent(p))
      if (dropped_dirs.count(p)) return true;
    return false;
  };
  std::vector<TreeEntry> kept;
  kept.reserve(entries_.size());
  for (auto& e : entries_) {
    const bool dir = e.kind == TreeEntry::kDir;
    if (under_dropped(e.path) || rules.excluded(e.path, dir)) {
      if (dir) dropped_dirs.insert(e.path);  // e.path's bytes stay put until entries_ is replaced
      continue;
    }
    kept.push_back(e);
  }
  entries_ = std::move(kept);
}

ExcludeRules TreeRecord::exclude_rules() const {
  ExcludeRules r;
  for (const auto& line : rules) r.add_line(line);
  return r;
}

const TreeEntry* TreeRecord::find(std::string_view path) const {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), path,
                             [](const TreeEntry& e, std::string_view p) { return e.path < p; });
  return it != entries_.end() && it->path == path ? &*it : nullptr;
}

TreeRecord TreeRecord::parse(const std::string& text, const std::string& origin) {
  TreeRecord r;
  size_t pos = 0, line_no = 0;
  auto next_line = [&](std::string_view& line) {
    if (pos >= text.size()) return false;
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    line = std::string_view(text).substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    return true;
  };
  auto bad = [&](const std::string& why) {
    return Error(origin + ":" + std::to_string(line_no) + ": " + why +
                 " (a damaged content record; the next deploy writes a new one)");
  };
  auto number = [&](std::string_view s, const char* what, unsigned base = 10) -> uint64_t {
    uint64_t v = 0;
    if (s.empty()) throw bad(std::string("empty ") + what);
    for (char c : s) {
      if (c < '0' || c >= static_cast<char>('0' + base)) throw bad(std::string("bad ") + what + " '" + std::string(s) + "'");
      v = v * base + static_cast<uint64_t>(c - '0');
    }
    return v;
  };
  std::string_view line;
  if (!next_line(line) || line != kTreeRecordMagic)
    throw bad("not a haul content record (expected '" + std::string(kTreeRecordMagic) + "')");
  while (next_line(line)) {
    if (line.empty()) continue;
    const auto f = fields_of(line);
    const std::string path = unescape_record_field(f.back());
    if (f[0] == "#" && f.size() == 3) {
      if (f[1] == "release") r.release = path;
      else if (f[1] == "manifest") r.manifest_url = path;
      else if (f[1] == "rule") r.rules.push_back(path);
      else if (f[1] == "linked") r.linked.push_back(path);
    } else if (f[0] == "d" && f.size() == 3) {
      r.add_dir(path, static_cast<unsigned>(number(f[1], "mode", 8)));
    } else if (f[0] == "f" && f.size() == 6) {
      const size_t dot = f[3].find('.');
      if (dot == std::string_view::npos) throw bad("bad mtime '" + std::string(f[3]) + "'");
      const bool before_1970 = f[3][0] == '-';
      timespec mtime{};
      mtime.tv_sec = static_cast<time_t>(number(f[3].substr(before_1970, dot - before_1970), "mtime"));
      if (before_1970) mtime.tv_sec = -mtime.tv_sec;
      mtime.tv_nsec = static_cast<long>(number(f[3].substr(dot + 1), "mtime"));
      r.add_file(path, static_cast<unsigned>(number(f[1], "mode", 8)), number(f[2], "size"), mtime, std::string(f[4]));
    } else if (f[0] == "l" && f.size() == 3) {
      r.add_symlink(path, unescape_record_field(f[1]));
    } else if (f[0] == "h" && f.size() == 3) {
      r.add_hardlink(path, unescape_record_field(f[1]));
    } else if (f[0].size() == 1 && std::string_view("#dflh").find(f[0][0]) != std::string_view::npos) {
      throw bad("a '" + std::string(f[0]) + "' line with " + std::to_string(f.size()) + " fields: '" +
                std::string(line.substr(0, 80)) + "'");
    } else if (f[0].size() != 1) {
      throw bad("expected an entry ('d', 'f', 'l', 'h') or '#', got '" + std::string(line.substr(0, 80)) + "'");
    }
    // another single-letter kind: from a newer haul, skipped
  }
  r.finish();
  r.drop_excluded(r.exclude_rules());
  return r;
}

TreeRecord TreeRecord::load(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error("cannot read the content record " + file.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return parse(ss.str(), file.string());
}

std::filesystem::path TreeRecord::beside(const std::filesystem::path& dest) {
  return beside_dest(dest, "tree");
}

}  // namespace haul
