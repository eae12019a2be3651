#include "drift/tree_record.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>
#include <unordered_set>

#include "deploy/exclude_rules.hpp"
#include "util/error.hpp"

namespace haul {
namespace {

constexpr const char* kMagic = "haul-tree 1";

std::string_view parent_of(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? std::string_view() : path.substr(0, slash);
}

void append_escaped(std::string& out, std::string_view s) {
  for (char c : s) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
}

std::string unescaped(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    const char c = s[++i];
    out += c == 't' ? '\t' : c == 'n' ? '\n' : c;
  }
  return out;
}

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

void TreeRecord::add_dir(std::string_view path, unsigned mode) {
  TreeEntry e;
  e.kind = TreeEntry::kDir;
  e.path = path;
  e.mode = mode;
  entries_.push_back(std::move(e));
  if (indexed_) by_path_[entries_.back().path] = entries_.size() - 1;
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
  entries_.push_back(std::move(e));
  if (indexed_) by_path_[entries_.back().path] = entries_.size() - 1;
}

void TreeRecord::add_symlink(std::string_view path, std::string target) {
  TreeEntry e;
  e.kind = TreeEntry::kSymlink;
  e.path = path;
  e.target = std::move(target);
  entries_.push_back(std::move(e));
  if (indexed_) by_path_[entries_.back().path] = entries_.size() - 1;
}

void TreeRecord::add_hardlink(std::string_view path, std::string_view to) {
  // Hard links are rare: the index is built on the first one only.
  if (!indexed_) {
    for (size_t i = 0; i < entries_.size(); ++i) by_path_[entries_[i].path] = i;
    indexed_ = true;
  }
  auto it = by_path_.find(std::string(to));
  if (it == by_path_.end()) return;  // the extractor refused it already
  TreeEntry e = entries_[it->second];
  e.path = path;
  entries_.push_back(std::move(e));
  by_path_[entries_.back().path] = entries_.size() - 1;
}

void TreeRecord::clear() {
  entries_.clear();
  by_path_.clear();
  indexed_ = false;
}

void TreeRecord::finish() {
  by_path_.clear();
  indexed_ = false;
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
    bool ok = is_folder(parent_of(dir));
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
  for (size_t i = 0; i < unique.size(); ++i) keep[i] = is_folder(parent_of(unique[i].path));
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
    for (auto p = parent_of(path); !p.empty(); p = parent_of(p))
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

std::string TreeRecord::serialize() const {
  std::string out;
  out.reserve(64 + entries_.size() * 80);
  out += kMagic;
  out += '\n';
  auto header = [&](const char* key, std::string_view value) {
    out += key;
    out += ' ';
    append_escaped(out, value);
    out += '\n';
  };
  header("release", release);
  header("manifest", manifest_url);
  for (const auto& r : rules) header("rule", r);
  for (const auto& l : linked) header("linked", l);
  out += '\n';
  char buf[128];
  for (const auto& e : entries_) {
    out += static_cast<char>(e.kind);
    out += '\t';
    switch (e.kind) {
      case TreeEntry::kDir:
        if (e.mode == TreeEntry::kAnyMode) {
          out += '-';
        } else {
          std::snprintf(buf, sizeof buf, "%04o", e.mode);
          out += buf;
        }
        break;
      case TreeEntry::kFile:
        std::snprintf(buf, sizeof buf, "%04o\t%" PRIu64 "\t%" PRId64 ".%09ld\t", e.mode, e.size, e.mtime_sec, e.mtime_nsec);
        out += buf;
        out += e.hash;
        break;
      case TreeEntry::kSymlink:
        append_escaped(out, e.target);
        break;
    }
    out += '\t';
    append_escaped(out, e.path);
    out += '\n';
  }
  return out;
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
    return Error(origin + ":" + std::to_string(line_no) + ": " + why + " (a damaged content record; the next deploy writes a new one)");
  };
  std::string_view line;
  if (!next_line(line) || line != kMagic) throw bad("not a haul content record (expected '" + std::string(kMagic) + "')");
  while (next_line(line) && !line.empty()) {
    const size_t sp = line.find(' ');
    const std::string_view key = line.substr(0, sp);
    const std::string value = sp == std::string_view::npos ? std::string() : unescaped(line.substr(sp + 1));
    if (key == "release") r.release = value;
    else if (key == "manifest") r.manifest_url = value;
    else if (key == "rule") r.rules.push_back(value);
    else if (key == "linked") r.linked.push_back(value);
    // other header keys: from a newer haul, ignored
  }
  while (next_line(line)) {
    if (line.empty()) continue;
    const auto f = fields_of(line);
    TreeEntry e;
    auto number = [&](std::string_view s, const char* what, unsigned base = 10) -> uint64_t {
      uint64_t v = 0;
      if (s.empty()) throw bad(std::string("empty ") + what);
      for (char c : s) {
        if (c < '0' || c >= static_cast<char>('0' + base)) throw bad(std::string("bad ") + what + " '" + std::string(s) + "'");
        v = v * base + static_cast<uint64_t>(c - '0');
      }
      return v;
    };
    if (f[0] == "d" && f.size() == 3) {
      e.kind = TreeEntry::kDir;
      e.mode = f[1] == "-" ? TreeEntry::kAnyMode : static_cast<unsigned>(number(f[1], "mode", 8));
    } else if (f[0] == "f" && f.size() == 6) {
      e.kind = TreeEntry::kFile;
      e.mode = static_cast<unsigned>(number(f[1], "mode", 8));
      e.size = number(f[2], "size");
      const size_t dot = f[3].find('.');
      if (dot == std::string_view::npos) throw bad("bad mtime '" + std::string(f[3]) + "'");
      const bool before_1970 = f[3][0] == '-';
      e.mtime_sec = static_cast<int64_t>(number(f[3].substr(before_1970, dot - before_1970), "mtime"));
      if (before_1970) e.mtime_sec = -e.mtime_sec;
      e.mtime_nsec = static_cast<long>(number(f[3].substr(dot + 1), "mtime"));
      e.hash = f[4];
    } else if (f[0] == "l" && f.size() == 3) {
      e.kind = TreeEntry::kSymlink;
      e.target = unescaped(f[1]);
    } else {
      throw bad("expected 'd', 'f' or 'l' and its fields, got '" + std::string(line.substr(0, 80)) + "'");
    }
    e.path = unescaped(f.back());
    r.entries_.push_back(std::move(e));
  }
  if (!std::is_sorted(r.entries_.begin(), r.entries_.end(),
                      [](const TreeEntry& a, const TreeEntry& b) { return a.path < b.path; }))
    throw bad("entries are not sorted by path");
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
  const auto d = dest.lexically_normal();
  return d.parent_path() / (".haul-" + d.filename().string() + ".tree");
}

}  // namespace haul
