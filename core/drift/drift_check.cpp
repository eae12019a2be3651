// SPDX-License-Identifier: Apache-2.0
#include "drift/drift_check.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "config/exclude_rules.hpp"
#include "util/content_hash.hpp"
#include "util/error.hpp"
#include "util/units.hpp"

namespace haul {
namespace {

const char* kind_name(TreeEntry::Kind k) {
  switch (k) {
    case TreeEntry::kDir: return "folder";
    case TreeEntry::kSymlink: return "symlink";
    default: return "file";
  }
}

std::string join(const std::string& dir, const std::string& name) { return dir.empty() ? name : dir + "/" + name; }

class DriftWalk {
 public:
  DriftWalk(const std::filesystem::path& root, const TreeRecord& record, const DriftOptions& options)
      : root_(root), record_(record), options_(options), rules_(record.exclude_rules()),
        linked_(record.linked.begin(), record.linked.end()), seen_(record.entries().size()) {}

  DriftReport run() {
    struct stat st;
    if (lstat(root_.c_str(), &st) != 0) throw Error("cannot check " + root_.string() + ": " + std::strerror(errno));
    if (!S_ISDIR(st.st_mode)) throw Error(root_.string() + " is not a folder");
    const Fd root(open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (root.fd < 0) throw Error("cannot list " + root_.string() + ": " + std::strerror(errno));
    walk(root.fd, "");
    collect_deleted();
    return std::move(report_);
  }

 private:
  bool ignored(const std::string& rel, bool is_dir) const {
    return linked_.count(rel) || rules_.excluded(rel, is_dir);
  }

  struct Fd {
    int fd;
    explicit Fd(int f) : fd(f) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() {
      if (fd >= 0) close(fd);
    }
  };

  // By folder descriptor, one component at a time: the kernel never walks
  // a full path again (W1: 23k stats), and a symlink on the way is never
  // followed.
  void walk(int dir_fd, const std::string& rel_dir) {
    const std::filesystem::path dir = rel_dir.empty() ? root_ : root_ / rel_dir;
    const int list_fd = dup(dir_fd);  // fdopendir takes it; dir_fd stays ours
    DIR* d = list_fd < 0 ? nullptr : fdopendir(list_fd);
    if (!d) {
      if (list_fd >= 0) close(list_fd);
      throw Error("cannot list " + dir.string() + ": " + std::strerror(errno));
    }
    std::vector<std::string> names;
    while (dirent* e = readdir(d)) {
      const char* n = e->d_name;
      if (std::strcmp(n, ".") != 0 && std::strcmp(n, "..") != 0) names.emplace_back(n);
    }
    closedir(d);
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
      const std::string rel = join(rel_dir, name);
      struct stat st;
      if (fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // gone while we looked
      const bool is_dir = S_ISDIR(st.st_mode);
      if (ignored(rel, is_dir)) continue;
      const TreeEntry* want = record_.find(rel);
      if (!want) {
        report_.added.push_back({rel + (is_dir ? "/" : ""), is_dir ? entries_in(dir / name) : ""});
        continue;
      }
      seen_[static_cast<size_t>(want - record_.entries().data())] = true;
      ++report_.compared;
      if (auto what = compare(*want, dir_fd, dir, name, st); !what.empty()) {
        report_.modified.push_back({rel + (is_dir ? "/" : ""), what});
        if (want->kind == TreeEntry::kDir && !is_dir) replaced_.insert(rel);
      }
      if (is_dir && want->kind == TreeEntry::kDir) {
        const Fd sub(openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (sub.fd < 0) {
          if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP) continue;  // gone or replaced while we looked
          throw Error("cannot list " + (dir / name).string() + ": " + std::strerror(errno));
        }
        walk(sub.fd, rel);
      }
    }
  }

  std::string compare(const TreeEntry& want, int dir_fd, const std::filesystem::path& dir, const std::string& name,
                      const struct stat& st) {
    const TreeEntry::Kind have = S_ISDIR(st.st_mode) ? TreeEntry::kDir : S_ISLNK(st.st_mode) ? TreeEntry::kSymlink
                                 : S_ISREG(st.st_mode)                    ? TreeEntry::kFile
                                                                          : TreeEntry::Kind(0);
    if (have != want.kind)
      return std::string("type ") + kind_name(want.kind) + " -> " + (have ? kind_name(have) : "special file");
    if (have == TreeEntry::kSymlink) {
      std::string target(static_cast<size_t>(st.st_size > 0 ? st.st_size : 4096) + 1, '\0');
      const ssize_t n = readlinkat(dir_fd, name.c_str(), target.data(), target.size());
      target.resize(n < 0 ? 0 : static_cast<size_t>(n));
      return target == want.target ? "" : "symlink target " + want.target + " -> " + target;
    }
    std::string what;
    auto add = [&](const std::string& s) { what += (what.empty() ? "" : ", ") + s; };
    if (have == TreeEntry::kFile) {
      if (static_cast<uint64_t>(st.st_size) != want.size) {
        add("content, size " + std::to_string(want.size) + " -> " + std::to_string(st.st_size));
      } else if (!(options_.quick && st.st_mtim.tv_sec == want.mtime_sec && st.st_mtim.tv_nsec == want.mtime_nsec)) {
        report_.hashed_bytes += want.size;
        if (file_hash_.digest_of_file(dir / name).view() != want.hash) add("content");
      }
    }
    if (want.mode != TreeEntry::kAnyMode && (st.st_mode & 07777) != want.mode)
      add("mode " + format_mode(want.mode) + " -> " + format_mode(st.st_mode));
    return what;
  }

  // What an added folder holds, for its line.
  static std::string entries_in(const std::filesystem::path& dir) {
    uint64_t n = 0;
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
      ++n;
    return entries_note(n);
  }

  // "and 3 entries in it": what went with a folder, on its line.
  static std::string entries_note(uint64_t n) {
    return n ? "and " + count_of(n, "entry", "entries") + " in it" : "";
  }

  // What the record holds and dest lacks; a missing folder is one line.
  void collect_deleted() {
    const auto& entries = record_.entries();
    // Folders whose recorded contents are not listed one by one: deleted
    // ones (index into deleted, to count what went with them), replaced and
    // ignored ones (npos).
    std::unordered_map<std::string_view, size_t> gone;
    for (const auto& l : linked_) gone.emplace(l, std::string::npos);
    for (const auto& r : replaced_) gone.emplace(r, std::string::npos);
    std::vector<uint64_t> counts;
    auto gone_ancestor = [&](std::string_view path) -> const size_t* {
      const size_t* found = nullptr;
      for (auto p = record_parent(path); !p.empty(); p = record_parent(p))
        if (auto it = gone.find(p); it != gone.end()) found = &it->second;  // the topmost wins
      return found;
    };
    for (size_t i = 0; i < entries.size(); ++i) {
      if (seen_[i]) continue;
      const TreeEntry& e = entries[i];
      const bool dir = e.kind == TreeEntry::kDir;
      if (gone.count(e.path)) continue;
      if (const size_t* top = gone_ancestor(e.path)) {
        if (*top != std::string::npos) ++counts[*top];
        continue;
      }
      if (ignored(e.path, dir)) continue;
      report_.deleted.push_back({e.path + (dir ? "/" : ""), ""});
      counts.push_back(0);
      if (dir) gone.emplace(e.path, report_.deleted.size() - 1);
    }
    for (size_t i = 0; i < report_.deleted.size(); ++i) report_.deleted[i].what = entries_note(counts[i]);
  }

  const std::filesystem::path root_;
  const TreeRecord& record_;
  const DriftOptions options_;
  const ExcludeRules rules_;
  const std::unordered_set<std::string> linked_;
  std::vector<bool> seen_;
  std::unordered_set<std::string> replaced_;
  ContentHash file_hash_;
  DriftReport report_;
};

}  // namespace

DriftReport check_drift(const std::filesystem::path& root, const TreeRecord& record, const DriftOptions& options) {
  return DriftWalk(root, record, options).run();
}

}  // namespace haul
