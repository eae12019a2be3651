// SPDX-License-Identifier: Apache-2.0
#include "sync/tree_sync.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <vector>
#include <system_error>

#include "sync/dest_file_compare.hpp"
#include "util/error.hpp"

namespace haul {
namespace {

std::string errno_text(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

// Entries of dir with their lstat; a missing dir is empty when allowed (a
// staged tree holds only what changed).
std::map<std::string, struct stat> list_dir(const std::string& dir, bool may_be_missing = false) {
  std::map<std::string, struct stat> out;
  DIR* d = opendir(dir.c_str());
  if (!d && may_be_missing && errno == ENOENT) return out;
  if (!d) throw Error(errno_text("cannot read directory", dir));
  while (struct dirent* e = readdir(d)) {
    if (!std::strcmp(e->d_name, ".") || !std::strcmp(e->d_name, "..")) continue;
    struct stat st;
    // Relative to the open folder: no walk of the whole path per entry.
    if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      closedir(d);
      throw Error(errno_text("cannot stat", dir + "/" + e->d_name));
    }
    out.emplace(e->d_name, st);
  }
  closedir(d);
  return out;
}

// Whether two regular files hold the same bytes (read side by side).
bool same_content(const std::string& a, const std::string& b) {
  const int fd = open(a.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return false;
  DestFileCompare compare(AT_FDCWD, b);
  std::vector<char> buf(256 << 10);
  uint64_t at = 0;
  ssize_t n;
  while ((n = read(fd, buf.data(), buf.size())) > 0 && compare.feed(buf.data(), static_cast<size_t>(n), at))
    at += static_cast<uint64_t>(n);
  close(fd);
  return n == 0 && compare.same(at);
}

std::string join(const std::string& rel, const std::string& name) {
  return rel.empty() ? name : rel + "/" + name;
}

// Gives path the mode, owner (as root) and mtime of src, as rsync -a does.
void apply_attributes(const std::string& path, const struct stat& src, const struct stat* current) {
  bool is_link = S_ISLNK(src.st_mode);
  if (!is_link && (!current || (current->st_mode & 07777) != (src.st_mode & 07777)))
    if (chmod(path.c_str(), src.st_mode & 07777) != 0) throw Error(errno_text("cannot chmod", path));
  if (geteuid() == 0 && (!current || current->st_uid != src.st_uid || current->st_gid != src.st_gid))
    if (lchown(path.c_str(), src.st_uid, src.st_gid) != 0) throw Error(errno_text("cannot chown", path));
  if (!current || current->st_mtim.tv_sec != src.st_mtim.tv_sec ||
      current->st_mtim.tv_nsec != src.st_mtim.tv_nsec) {
    struct timespec times[2] = {src.st_atim, src.st_mtim};
    if (utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0 && !is_link)
      throw Error(errno_text("cannot set mtime of", path));
  }
}

// Names in dir and whether each is a folder, from readdir alone: the sync
// stats only what it has to act on.
std::map<std::string, bool> list_names(const std::string& dir) {
  std::map<std::string, bool> out;
  DIR* d = opendir(dir.c_str());
  if (!d) throw Error(errno_text("cannot read directory", dir));
  while (struct dirent* e = readdir(d)) {
    if (!std::strcmp(e->d_name, ".") || !std::strcmp(e->d_name, "..")) continue;
    bool is_dir = e->d_type == DT_DIR;
    if (e->d_type == DT_UNKNOWN) {  // filesystems without d_type
      struct stat st;
      if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        closedir(d);
        throw Error(errno_text("cannot stat", dir + "/" + e->d_name));
      }
      is_dir = S_ISDIR(st.st_mode);
    }
    out.emplace(e->d_name, is_dir);
  }
  closedir(d);
  return out;
}

class Syncer {
 public:
  Syncer(const ExcludeRules& rules, const SyncReporter& report, const KeptFiles* kept)
      : rules_(rules), report_(report), kept_(kept && kept->size() ? kept : nullptr) {}
  SyncStats stats;

  // staged: whether `from` may exist. Under a kept folder that staging
  // lacks, nothing is staged either: no listing to try.
  void sync_dir(const std::string& from, const std::string& to, const std::string& rel, bool staged) {
    auto src = staged ? list_dir(from, kept_ != nullptr) : std::map<std::string, struct stat>{};
    for (auto it = src.begin(); it != src.end();)
      it = rules_.excluded(join(rel, it->first), S_ISDIR(it->second.st_mode)) ? src.erase(it) : std::next(it);
    auto dst = list_names(to);

    // dest's side first: deletions (as rsync --delete does per directory)
    // and what dest holds unchanged.
    for (auto it = dst.begin(); it != dst.end();) {
      const std::string& name = it->first;
      const bool is_dir = it->second;
      const std::string rel_path = join(rel, name), to_path = to + "/" + name;
      auto s = src.find(name);
      const bool kept = kept_ && kept_->contains(rel_path);
      if (kept && s == src.end() && !rules_.excluded(rel_path, is_dir)) {
        if (is_dir) {
          sync_kept_dir(from + "/" + name, to_path, rel_path, false);
        } else {
          // Passed the quick check during extraction, under the same lock:
          // only its attributes may need setting.
          if (const struct stat* want = kept_->attributes(rel_path)) {
            struct stat cur;
            if (lstat(to_path.c_str(), &cur) != 0)
              throw Error(to_path + " changed while this deploy held dest's lock; deploy again");
            apply_attributes(to_path, *want, &cur);
          }
          ++stats.unchanged;
        }
        it = dst.erase(it);
        continue;
      }
      const bool type_clash = s != src.end() && S_ISDIR(s->second.st_mode) != is_dir;
      if (s == src.end() || type_clash) {  // excluded paths are protected there
        remove_path(to_path, rel_path, is_dir);
        it = dst.erase(it);
        continue;
      }
      ++it;
    }
    // The staged side: what changed or is new.
    for (const auto& [name, st] : src) {
      const std::string from_path = from + "/" + name, to_path = to + "/" + name;
      const std::string rel_path = join(rel, name);
      const bool exists = dst.count(name) != 0;
      if (S_ISDIR(st.st_mode)) {
        if (!exists && rules_.empty()) {
          move(from_path, to_path, rel_path + "/");  // a whole new subtree: one rename
          continue;
        }
        if (!exists) {
          if (mkdir(to_path.c_str(), 0700) != 0) throw Error(errno_text("cannot create directory", to_path));
          report("created", rel_path + "/");
        }
        // A kept folder may be staged too, as a plain parent of changed
        // files: the release's attributes are the kept ones.
        if (exists && kept_ && kept_->contains(rel_path)) {
          sync_kept_dir(from_path, to_path, rel_path, true);
          continue;
        }
        struct stat cur;
        const bool had = exists && lstat(to_path.c_str(), &cur) == 0;
        const uint64_t changes = stats.written + stats.deleted;
        sync_dir(from_path, to_path, rel_path, true);
        // Moves and deletions inside changed the folder's mtime: set it again.
        apply_attributes(to_path, st, had && changes == stats.written + stats.deleted ? &cur : nullptr);
        continue;
      }
      struct stat cur;
      const bool have_cur = exists && lstat(to_path.c_str(), &cur) == 0;
      if (have_cur && cur.st_ino == st.st_ino && cur.st_dev == st.st_dev) {
        // A hard link to a file dest kept: the very file, whose attributes
        // the kept entry set — the stat taken when listing is stale.
        ++stats.unchanged;
        continue;
      }
      struct stat now = st;
      if (st.st_nlink > 1) lstat(from_path.c_str(), &now);  // may share a kept file's inode, fixed since
      if (have_cur && unchanged(now, cur, from_path, to_path)) {
        apply_attributes(to_path, now, &cur);
        ++stats.unchanged;
      } else {
        move(from_path, to_path, rel_path);
      }
    }
  }

  void remove_path(const std::string& path, const std::string& rel, bool is_dir) {
    if (rules_.excluded(rel, is_dir)) {
      ++stats.protected_by_exclude;
      return;
    }
    if (is_dir) {
      for (const auto& [name, child_is_dir] : list_names(path))
        remove_path(path + "/" + name, join(rel, name), child_is_dir);
      if (rmdir(path.c_str()) != 0) {
        if (errno == ENOTEMPTY || errno == EEXIST) return;  // holds excluded files: kept, as rsync does
        throw Error(errno_text("cannot delete directory", path));
      }
    } else if (unlink(path.c_str()) != 0) {
      throw Error(errno_text("cannot delete", path));
    }
    ++stats.deleted;
    report("deleting", rel + (is_dir ? "/" : ""));
  }

 private:
  // A folder dest holds with the release's mode, owner and mtime: walked for
  // what changed inside, then given its mtime back if anything did.
  void sync_kept_dir(const std::string& from, const std::string& to, const std::string& rel, bool staged) {
    const uint64_t changes = stats.written + stats.deleted;
    sync_dir(from, to, rel, staged);
    if (changes == stats.written + stats.deleted) return;
    const struct timespec* mtime = kept_->mtime(rel);
    const struct timespec times[2] = {*mtime, *mtime};
    if (utimensat(AT_FDCWD, to.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0)
      throw Error(errno_text("cannot set mtime of", to));
  }

  static bool unchanged(const struct stat& s, const struct stat& d, const std::string& from,
                        const std::string& to) {
    // Size and mtime alone (rsync's quick check) would keep a same-size file
    // built in the same second: the content decides. The extractor already
    // decided for what it staged, so this read happens only for files staged
    // without a quick check (a first sync, exclude_from).
    if (S_ISREG(s.st_mode))
      return S_ISREG(d.st_mode) && s.st_size == d.st_size && s.st_mtim.tv_sec == d.st_mtim.tv_sec &&
             same_content(from, to);
    if (S_ISLNK(s.st_mode) && S_ISLNK(d.st_mode)) {
      char a[4096], b[4096];
      ssize_t la = readlink(from.c_str(), a, sizeof a), lb = readlink(to.c_str(), b, sizeof b);
      return la >= 0 && la == lb && std::memcmp(a, b, static_cast<size_t>(la)) == 0;
    }
    return false;
  }

  void move(const std::string& from, const std::string& to, const std::string& rel) {
    if (rename(from.c_str(), to.c_str()) != 0) throw Error(errno_text("cannot move " + from + " to", to));
    ++stats.written;
    report(nullptr, rel);
  }

  void report(const char* action, const std::string& rel) {
    if (report_) report_(action ? action : "", rel);
  }

  const ExcludeRules& rules_;
  const SyncReporter& report_;
  const KeptFiles* kept_;
};

}  // namespace

SyncStats sync_tree(const std::filesystem::path& from, const std::filesystem::path& to,
                    const ExcludeRules& rules, const SyncReporter& report,
                    const KeptFiles* kept) {
  struct stat root;
  if (lstat(from.c_str(), &root) != 0) throw Error(errno_text("cannot stat", from.string()));
  struct stat cur;
  bool exists = lstat(to.c_str(), &cur) == 0;
  if (exists && !S_ISDIR(cur.st_mode))
    throw Error("dest " + to.string() + " exists and is not a directory");
  if (!exists && mkdir(to.c_str(), 0700) != 0) throw Error(errno_text("cannot create dest", to.string()));
  Syncer s(rules, report, kept);
  s.sync_dir(from.string(), to.string(), "", true);
  apply_attributes(to.string(), root, exists ? &cur : nullptr);
  return s.stats;
}

void move_tree(const std::filesystem::path& from, const std::filesystem::path& to) {
  struct stat st;
  if (lstat(to.c_str(), &st) == 0)
    throw Error("sync_strategy mv: dest " + to.string() +
                " already exists; mv places a release only into a path that does not exist yet "
                "(use rsync to update an existing dest)");
  if (rename(from.c_str(), to.c_str()) != 0)
    throw Error(errno_text("sync_strategy mv: cannot move the release to", to.string()));
}

}  // namespace haul
