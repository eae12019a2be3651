// SPDX-License-Identifier: Apache-2.0
#include "extract/disk_writer.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <string_view>
#include <vector>

#include "util/error.hpp"

namespace haul {

namespace {

// An id by account name through a cache: getpwnam/getgrnam read
// /etc/passwd or NSS each time, and an archive names the same few owners
// on every entry.
template <typename Id, typename Lookup>
Id by_name(std::map<std::string, Id, std::less<>>& cache, const char* name, Id fallback, Lookup lookup) {
  auto it = cache.find(std::string_view(name));
  if (it == cache.end()) it = cache.emplace(name, lookup(name).value_or(fallback)).first;
  return it->second;
}

// The process umask, read without setting it: umask(2) can only be read by
// changing it, and for that moment every other thread of an agent running
// several pipelines would create files with no umask at all.
mode_t current_umask() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("Umask:", 0) == 0) return static_cast<mode_t>(std::stoul(line.substr(6), nullptr, 8));
  const mode_t mask = umask(0);  // kernels before 4.7 do not report it
  umask(mask);
  return mask;
}

}  // namespace

DiskWriter::DiskWriter(const std::filesystem::path& root, std::string origin)
    : cursor_(root, /*create_missing=*/true),
      origin_(std::move(origin)),
      as_root_(geteuid() == 0),
      euid_(geteuid()),
      egid_(getegid()),
      umask_(current_umask()) {
  struct stat st;
  root_setgid_ = fstat(cursor_.root(), &st) == 0 && (st.st_mode & S_ISGID);
}

DiskWriter::~DiskWriter() {
  if (file_.fd >= 0) close(file_.fd);
}

void DiskWriter::fail(const std::string& rel, const std::string& what) const {
  throw Error(origin_ + ": archive entry '" + rel + "': " + what + ": " + std::strerror(errno));
}

uid_t DiskWriter::resolve_uid(const char* name, uid_t id) {
  if (!as_root_ || !name || !*name) return id;
  return by_name(users_, name, id, [](const char* n) -> std::optional<uid_t> {
    const struct passwd* pw = getpwnam(n);
    return pw ? std::optional<uid_t>(pw->pw_uid) : std::nullopt;
  });
}

gid_t DiskWriter::resolve_gid(const char* name, gid_t id) {
  if (!as_root_ || !name || !*name) return id;
  return by_name(groups_, name, id, [](const char* n) -> std::optional<gid_t> {
    const struct group* gr = getgrnam(n);
    return gr ? std::optional<gid_t>(gr->gr_gid) : std::nullopt;
  });
}

bool DiskWriter::needs_owner(uid_t uid, gid_t gid) const {
  return as_root_ && (uid != euid_ || gid != egid_ || root_setgid_);
}

int DiskWriter::parent_of(const std::string& rel, std::string& name) {
  auto [dir, base] = DirCursor::split(rel);
  name.assign(base);
  const int fd = cursor_.at(dir);
  if (fd < 0) fail(rel, "cannot open its folder");
  return fd;
}

// Makes room for a new entry where the archive already put one (a later
// entry replaces an earlier one, as with tar): an empty folder or anything
// that is not a folder.
void DiskWriter::clear_for(int parent, const std::string& name, const std::string& rel) {
  if (unlinkat(parent, name.c_str(), 0) == 0) return;
  if ((errno == EISDIR || errno == EPERM) && unlinkat(parent, name.c_str(), AT_REMOVEDIR) == 0) {
    removed_dirs_[rel] = dirs_.size();
    return;
  }
  fail(rel, "cannot replace what an earlier entry put there");
}

void DiskWriter::open_file(const std::string& rel, const EntryAttrs& attrs) {
  std::string name;
  const int parent = parent_of(rel, name);
  constexpr int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  int fd = openat(parent, name.c_str(), flags, attrs.perm & 0777);
  if (fd < 0 && errno == EEXIST) {
    clear_for(parent, name, rel);
    fd = openat(parent, name.c_str(), flags, attrs.perm & 0777);
  }
  if (fd < 0) fail(rel, "cannot create file");
  file_ = {fd, rel, attrs, 0};
}

void DiskWriter::write(const void* data, size_t len, int64_t offset) {
  if (offset != file_.pos && lseek(file_.fd, offset, SEEK_SET) < 0) fail(file_.rel, "cannot seek");  // sparse
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    const ssize_t n = ::write(file_.fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(file_.rel, "cannot write");
    }
    p += n;
    len -= static_cast<size_t>(n);
  }
  file_.pos = offset + (p - static_cast<const char*>(data));
}

void DiskWriter::close_file(uint64_t size) {
  const int fd = file_.fd;
  const EntryAttrs& a = file_.attrs;
  if (static_cast<uint64_t>(file_.pos) < size && ftruncate(fd, static_cast<off_t>(size)) != 0)
    fail(file_.rel, "cannot extend sparse file");
  // chown clears setuid/setgid, so it goes first; chmod only when the umask
  // or special bits made creation miss the mode.
  const bool owner = needs_owner(a.uid, a.gid);
  if (owner && fchown(fd, a.uid, a.gid) != 0) fail(file_.rel, "cannot set owner");
  if ((a.perm & 07777) != (a.perm & 0777 & ~umask_) || (owner && (a.perm & 06000))) {
    if (fchmod(fd, a.perm & 07777) != 0) fail(file_.rel, "cannot set mode");
  }
  const struct timespec times[2] = {a.atime, a.mtime};
  if (futimens(fd, times) != 0) fail(file_.rel, "cannot set times");
  file_.fd = -1;
  if (close(fd) != 0) fail(file_.rel, "cannot write");  // NFS reports late write errors here
}

void DiskWriter::make_dir(const std::string& rel, const EntryAttrs& attrs) {
  std::string name;
  const int parent = parent_of(rel, name);
  // Owner-writable while it fills; the archive's mode comes at finish().
  const mode_t create = (attrs.perm & 0777) | 0700;
  mode_t created = create & ~umask_;
  if (mkdirat(parent, name.c_str(), create) != 0) {
    struct stat st;
    if (errno != EEXIST || fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
      fail(rel, "cannot create folder");
    if (S_ISDIR(st.st_mode)) {
      created = st.st_mode & 07777;  // made earlier as a parent, or listed twice
    } else {
      clear_for(parent, name, rel);
      if (mkdirat(parent, name.c_str(), create) != 0) fail(rel, "cannot create folder");
    }
  }
  dirs_.push_back({dir_paths_.add(rel), attrs, created});
}

void DiskWriter::make_symlink(const std::string& rel, const std::string& target, const EntryAttrs& attrs) {
  std::string name;
  const int parent = parent_of(rel, name);
  if (symlinkat(target.c_str(), parent, name.c_str()) != 0) {
    if (errno != EEXIST) fail(rel, "cannot create symlink");
    clear_for(parent, name, rel);
    if (symlinkat(target.c_str(), parent, name.c_str()) != 0) fail(rel, "cannot create symlink");
  }
  if (needs_owner(attrs.uid, attrs.gid) && fchownat(parent, name.c_str(), attrs.uid, attrs.gid, AT_SYMLINK_NOFOLLOW) != 0)
    fail(rel, "cannot set owner");
  const struct timespec times[2] = {attrs.atime, attrs.mtime};
  if (utimensat(parent, name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) fail(rel, "cannot set times");
}

void DiskWriter::make_hardlink(const std::string& rel, const std::string& target_rel) {
  std::string name;
  const int parent = parent_of(rel, name);
  // The target resolves from the root: the extractor has refused any target
  // whose path goes through a symlink of this archive.
  if (linkat(cursor_.root(), target_rel.c_str(), parent, name.c_str(), 0) != 0) {
    if (errno == ENOENT) fail(rel, "hard link to '" + target_rel + "', which no earlier entry made");
    if (errno != EEXIST) fail(rel, "cannot link to '" + target_rel + "'");
    clear_for(parent, name, rel);
    if (linkat(cursor_.root(), target_rel.c_str(), parent, name.c_str(), 0) != 0)
      fail(rel, "cannot link to '" + target_rel + "'");
  }
}

bool DiskWriter::link_from(const std::filesystem::path& from, const std::string& rel) {
  std::string name;
  const int parent = parent_of(rel, name);
  return linkat(AT_FDCWD, from.c_str(), parent, name.c_str(), 0) == 0;
}

void DiskWriter::finish() {
  // Deepest first (a folder sorts before everything under it), so setting a
  // folder's times is never undone by work inside it; for one folder, its
  // last record first.
  std::vector<uint32_t> order(dirs_.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [this](uint32_t a, uint32_t b) {
    const auto pa = path_of(dirs_[a]), pb = path_of(dirs_[b]);
    return pa != pb ? pa > pb : a > b;
  });
  std::string_view done;
  for (const uint32_t i : order) {
    const PendingDir& d = dirs_[i];
    const std::string rel(path_of(d));
    if (!done.empty() && rel == done) continue;  // an older record of the same folder
    done = path_of(d);
    if (auto removed = removed_dirs_.find(rel); removed != removed_dirs_.end() && i < removed->second) continue;
    std::string name;
    const int parent = parent_of(rel, name);
    const bool owner = needs_owner(d.attrs.uid, d.attrs.gid);
    if (owner && fchownat(parent, name.c_str(), d.attrs.uid, d.attrs.gid, AT_SYMLINK_NOFOLLOW) != 0)
      fail(rel, "cannot set owner");
    if (d.created != (d.attrs.perm & 07777) || owner) {
      if (fchmodat(parent, name.c_str(), d.attrs.perm & 07777, 0) != 0) fail(rel, "cannot set mode");
    }
    const struct timespec times[2] = {d.attrs.atime, d.attrs.mtime};
    if (utimensat(parent, name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) fail(rel, "cannot set times");
  }
  dirs_.clear();
  dir_paths_.clear();
  removed_dirs_.clear();
}

}  // namespace haul
